// GEMM throughput in GFLOP/s (2 m n k per product) for SGEMM and DGEMM, next to this machine's
// measured FMA peak: an FMA loop on independent accumulators with the widest vectors of the
// active ISA, on one thread and on `threads` threads at once. Times are the best and the median
// wall time of repeated runs, plus (one thread only) "cpu": FLOPs per second of CPU time, which
// on a shared machine (other processes taking the core) is the figure that shows the kernel's own
// speed; the FMA peak is measured in thread CPU time for the same reason.
//
//   cmake -S . -B build/bench -G Ninja -DLAMINA_BUILD_BENCH=ON -Dpybind11_DIR=$(python -m pybind11 --cmakedir)
//   ninja -C build/bench bench_gemm && build/bench/bench_gemm [threads...]
//   (LAMINA_BENCH_ONLY="SGEMM 1024" runs the cases whose label contains that text)
#include <immintrin.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_timing.h"
#include "lamina/core/kernel_table.h"
#include "lamina/cpu/isa.h"
#include "lamina/cpu/parallel.h"

using namespace lamina;

namespace {

struct Timing {
  double best, median, cpu;  // wall seconds (best, median); process CPU seconds of the best-CPU run
};

double cpu_seconds(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Repeats fn for about `budget` seconds (3 to 50 runs) after one warm-up run.
Timing time_runs(const std::function<void()>& fn, double budget = 0.4) {
  fn();
  std::vector<double> t;
  double total = 0, cpu = 1e300;
  while (t.size() < 3 || (total < budget && t.size() < 50)) {
    double c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    auto start = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu = std::min(cpu, cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0);
    t.push_back(s);
    total += s;
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2], cpu};
}

// ---- FMA peak: 12 independent accumulator chains, FLOPs = iters * 12 * lanes * 2 --------------
constexpr int64_t kPeakIters = 2'000'000;

__attribute__((target("avx512f"))) double fma_loop_avx512(float seed) {
  __m512 acc[12], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(seed);
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i));
  for (int64_t it = 0; it < kPeakIters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}
__attribute__((target("avx2,fma"))) double fma_loop_avx2(float seed) {
  __m256 acc[12], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(seed);
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
  for (int64_t it = 0; it < kPeakIters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  return out[0];
}
double fma_loop_sse(float seed) {  // baseline: mul + add on 4 lanes
  __m128 acc[12], x = _mm_set1_ps(0.999999f), y = _mm_set1_ps(seed);
  for (int i = 0; i < 12; ++i) acc[i] = _mm_set1_ps(float(i));
  for (int64_t it = 0; it < kPeakIters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], x), y);
  float out[4];
  __m128 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm_add_ps(s, acc[i]);
  _mm_storeu_ps(out, s);
  return out[0];
}

// Single-precision GFLOP/s of the FMA loop on `threads` threads at once (sum over threads).
double fma_peak_gflops(int threads) {
  cpu::Isa isa = cpu::active_isa();
  int lanes = isa == cpu::Isa::Avx512 ? 16 : isa == cpu::Isa::Avx2 ? 8 : 4;
  // Each thread keeps its best rate over 10 runs (thread CPU time); the peak is their sum.
  std::vector<double> best(static_cast<size_t>(threads)), sink(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int rep = 0; rep < 10; ++rep) {
        float seed = 1e-3f * float(t + 1);
        double c0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
        sink[size_t(t)] += isa == cpu::Isa::Avx512 ? fma_loop_avx512(seed)
                           : isa == cpu::Isa::Avx2 ? fma_loop_avx2(seed)
                                                   : fma_loop_sse(seed);
        double s = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
        best[size_t(t)] = std::max(best[size_t(t)], double(kPeakIters) * 12 * lanes * 2 / s / 1e9);
      }
    });
  }
  for (auto& th : pool) th.join();
  if (sink[0] == 12345.0) std::puts("");  // keeps the loops alive
  double sum = 0;
  for (double b : best) sum += b;
  return sum;
}

// ---- GEMM cases ---------------------------------------------------------------------------------
template <class T>
struct Operands {
  std::vector<T> a, b, c;
  Operands(int64_t m, int64_t n, int64_t k) : a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n)) {
    std::mt19937 gen(42);
    std::normal_distribution<double> dist;
    for (auto& v : a) v = T(dist(gen));
    for (auto& v : b) v = T(dist(gen));
  }
};

// Row-major C (m x n) = A (m x k) @ B (k x n) through the kernel table.
template <class T>
Timing time_gemm(int64_t m, int64_t n, int64_t k) {
  Operands<T> op(m, n, k);
  GemmArgs g;
  g.dtype = sizeof(T) == 4 ? DType::Float32 : DType::Float64;
  g.m = m, g.n = n, g.k = k;
  g.a = MatrixView{op.a.data(), k, 1, 0};
  g.b = MatrixView{op.b.data(), n, 1, 0};
  g.c = MutMatrixView{op.c.data(), n, 1, 0};
  auto gemm = LAMINA_KERNEL(Device{}, gemm, "gemm");
  double flops = 2.0 * m * n * k;
  return time_runs([&] { gemm(g); }, flops > 2e10 ? 1.5 : 0.4);
}

struct Shape3 {
  const char* label;
  int64_t m, k, n;
};

template <class T>
void report(const char* what, const Shape3& s, double peak, int threads) {
  const char* only = std::getenv("LAMINA_BENCH_ONLY");  // e.g. "SGEMM 1024^3": run the cases containing it
  if (only && (std::string(what) + " " + s.label).find(only) == std::string::npos) return;
  Timing t = time_gemm<T>(s.m, s.n, s.k);
  double flops = 2.0 * s.m * s.n * s.k;
  double best = flops / t.best / 1e9, median = flops / t.median / 1e9, cpu = flops / t.cpu / 1e9;
  if (threads == 1) {
    std::printf("%-6s %-24s %10.3f %10.1f %10.1f %10.1f %8.0f%% %8.0f%%\n", what, s.label, t.best * 1e3, best, median,
                cpu, 100 * best / peak, 100 * cpu / peak);
  } else {  // the process CPU clock lags for threads running elsewhere: no cpu figure
    std::printf("%-6s %-24s %10.3f %10.1f %10.1f %10s %8.0f%% %9s\n", what, s.label, t.best * 1e3, best, median, "-",
                100 * best / peak, "-");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int> thread_counts = bench::thread_counts(argc, argv);
  cpu::init_kernels();
  const bool skip_big_dgemm = std::getenv("LAMINA_BENCH_DGEMM_4096") == nullptr;

  std::printf("lamina bench_gemm: ISA %s; GFLOP/s from the best and the median run, %% of FMA peak "
              "from the best\n", cpu::isa_name(cpu::active_isa()));
  const double peak1 = fma_peak_gflops(1);
  for (int threads : thread_counts) {
    cpu::set_num_threads(threads);
    const double peak_s = threads == 1 ? peak1 : fma_peak_gflops(threads), peak_d = peak_s / 2;
    std::printf("\nthreads=%d  FMA peak: %.1f GFLOP/s float32, %.1f float64 (%.1f float32 per thread)\n",
                threads, peak_s, peak_d, peak1);
    std::printf("%-6s %-24s %10s %10s %10s %10s %9s %9s\n", "", "m x k x n", "best ms", "best", "median", "cpu",
                "best/pk", "cpu/pk");
    for (int64_t n : {64, 128, 256, 512, 1024, 2048, 4096}) {
      std::string label = std::to_string(n) + "^3";
      report<float>("SGEMM", {label.c_str(), n, n, n}, peak_s, threads);
    }
    for (int64_t n : {64, 128, 256, 512, 1024, 2048, 4096}) {
      if (n == 4096 && skip_big_dgemm) continue;  // LAMINA_BENCH_DGEMM_4096=1 to run it
      std::string label = std::to_string(n) + "^3";
      report<double>("DGEMM", {label.c_str(), n, n, n}, peak_d, threads);
    }
    const Shape3 training[] = {{"64x784x128", 64, 784, 128},
                               {"128x3072x768", 128, 3072, 768},
                               {"8192x64x64", 8192, 64, 64},
                               {"GEMV 4096x4096 @ vec", 4096, 4096, 1}};
    for (const Shape3& s : training) report<float>("SGEMM", s, peak_s, threads);
    for (const Shape3& s : training) report<double>("DGEMM", s, peak_d, threads);
  }
  return 0;
}
