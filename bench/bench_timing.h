// What the C++ benchmark programs share: the thread counts from the command line and the median
// and best wall time of repeated runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <vector>

namespace bench {

// The thread counts given as arguments, 1 and 2 when there are none.
inline std::vector<int> thread_counts(int argc, char** argv) {
  std::vector<int> counts;
  for (int i = 1; i < argc; ++i) counts.push_back(std::atoi(argv[i]));
  if (counts.empty()) counts = {1, 2};
  return counts;
}

struct RunTimes {
  double median, best;  // seconds
};

// Median and best seconds of `reps` runs of fn after `warmups` unmeasured ones.
inline RunTimes repeat_timed(const std::function<void()>& fn, int reps, int warmups = 1) {
  for (int i = 0; i < warmups; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front()};
}

}  // namespace bench
