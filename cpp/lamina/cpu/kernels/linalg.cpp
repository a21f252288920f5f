// SVD by one-sided Jacobi (Hestenes) in float64, one matrix per task. The taller orientation is
// orthogonalised: W = A (or A^T when m < n) is rotated column pair by column pair until every pair
// is orthogonal to ~R * eps relative to the pair's norms; then S = column norms, U = W / S and V =
// the product of the rotations. Relative orthogonality keeps U orthonormal even for tiny singular
// values; zero ones (and full_matrices' extra columns) are completed from the standard
// basis. The input is scaled by a power of two first, so no norm overflows or underflows.
//
// No std::vector or std algorithm over plain types here: their out-of-line instantiations are
// weak symbols outside the ISA namespace, and the linker would keep one ISA's copy for all
// (tests/test_isa_build.py). Working memory is one AlignedBuffer per matrix.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/kernels/scratch.h"
#include "lamina/cpu/kernels/task_guard.h"

namespace lamina::cpu::LAMINA_ISA_NS {

namespace {

constexpr int kMaxSweeps = 80;  // cyclic Jacobi converges quadratically: ~6-12 sweeps in practice
// After prescaling the largest entry is in [0.5, 1). A column whose norm falls below kTiny (a
// singular value 1e-150 below the largest, far under rounding noise) would underflow when squared:
// it is left alone by the sweeps and treated as zero for its singular vector, which is completed.
constexpr double kTiny = 1e-150;

double dot(const double* a, const double* b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// a.a, b.b and a.b in one pass, each summed exactly as dot() sums it.
void dot3(const double* a, const double* b, int64_t n, double& aa, double& bb, double& ab) {
  double x[4] = {}, y[4] = {}, z[4] = {};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int l = 0; l < 4; ++l) {
      x[l] += a[i + l] * a[i + l];
      y[l] += b[i + l] * b[i + l];
      z[l] += a[i + l] * b[i + l];
    }
  }
  for (; i < n; ++i) x[0] += a[i] * a[i], y[0] += b[i] * b[i], z[0] += a[i] * b[i];
  aa = (x[0] + x[1]) + (x[2] + x[3]);
  bb = (y[0] + y[1]) + (y[2] + y[3]);
  ab = (z[0] + z[1]) + (z[2] + z[3]);
}

// Euclidean norm without underflow for tiny entries (the column's largest entry factored out).
double norm2(const double* a, int64_t n) {
  double big = 0;
  for (int64_t i = 0; i < n; ++i) big = std::max(big, std::abs(a[i]));
  if (big == 0) return 0;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (a[i] / big) * (a[i] / big);
  return big * std::sqrt(s);
}

void rotate(double* x, double* y, int64_t n, double c, double s) {
  for (int64_t i = 0; i < n; ++i) {
    double a = x[i], b = y[i];
    x[i] = c * a - s * b;
    y[i] = s * a + c * b;
  }
}

// Cyclic sweeps over the C columns (length R, column-major) of w; v (C x C, column-major) collects
// the rotations when given.
void jacobi(double* w, double* v, int64_t R, int64_t C) {
  const double tol = double(std::max<int64_t>(R, 1)) * std::numeric_limits<double>::epsilon();
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool rotated = false;
    for (int64_t p = 0; p + 1 < C; ++p) {
      for (int64_t q = p + 1; q < C; ++q) {
        double* wp = w + p * R;
        double* wq = w + q * R;
        double alpha, beta, gamma;
        dot3(wp, wq, R, alpha, beta, gamma);
        if (gamma == 0 || alpha < kTiny * kTiny || beta < kTiny * kTiny) continue;
        if (std::abs(gamma) <= tol * std::sqrt(alpha) * std::sqrt(beta)) continue;
        rotated = true;
        // The rotation that zeroes the pair's inner product (Rutishauser's formulas).
        double zeta = (beta - alpha) / (2 * gamma);
        double t = std::abs(zeta) > 1e150 ? 0.5 / zeta
                                           : std::copysign(1.0, zeta) / (std::abs(zeta) + std::sqrt(1 + zeta * zeta));
        double c = 1 / std::sqrt(1 + t * t), s = c * t;
        rotate(wp, wq, R, c, s);
        if (v) rotate(v + p * C, v + q * C, C, c, s);
      }
    }
    if (!rotated) break;
  }
}

// Appends unit vectors to the orthonormal columns q[0..have) (length R, column-major) until there
// are `want`: each candidate e_i is orthogonalised twice and kept when at least 1/(2R) of its
// squared norm remains. Some e_i always passes: the squared residuals of all R sum to R - have.
void complete_basis(double* q, int64_t R, int64_t have, int64_t want) {
  const double keep = 0.5 / double(R);
  for (int64_t i = 0; i < R && have < want; ++i) {
    double* v = q + have * R;
    std::fill(v, v + R, 0.0);
    v[i] = 1;
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t j = 0; j < have; ++j) {
        const double* u = q + j * R;
        double d = dot(u, v, R);
        for (int64_t r = 0; r < R; ++r) v[r] -= d * u[r];
      }
    }
    double nv = std::sqrt(dot(v, v, R));
    if (nv * nv < keep) continue;
    for (int64_t r = 0; r < R; ++r) v[r] /= nv;
    ++have;
  }
}

template <class T>
void fill_nan(T* p, int64_t n) {
  std::fill(p, p + n, std::numeric_limits<T>::quiet_NaN());
}

// One (m, n) matrix, row-major; outputs row-major: u (m, ucols), s (k), vh (vrows, n).
template <class T>
int32_t svd_one(const T* a, int64_t m, int64_t n, T* u, T* s, T* vh, bool full, bool uv) {
  const int64_t k = std::min(m, n);
  const int64_t ucols = full ? m : k, vrows = full ? n : k;
  bool has_nan = false, has_inf = false;
  double amax = 0;
  for (int64_t i = 0; i < m * n; ++i) {
    double x = double(a[i]);
    has_nan = has_nan || std::isnan(x);
    has_inf = has_inf || std::isinf(x);
    amax = std::max(amax, std::abs(x));
  }
  if (has_nan || has_inf) {  // PyTorch: NaN fails to converge; inf alone gives NaN factors
    fill_nan(s, k);
    if (uv) fill_nan(u, m * ucols), fill_nan(vh, vrows * n);
    return has_nan ? 1 : 0;
  }
  const bool tr = m < n;  // orthogonalise the columns of A^T instead
  const int64_t R = tr ? n : m, C = k;
  const int64_t cols = uv ? (tr ? vrows : ucols) : 0;  // the long side's basis: C..R columns
  // Working memory: w (R x C), v (C x C), norms (C), order (C), q (R x max(cols, C)).
  const int64_t qcols = uv ? std::max(cols, C) : 0;
  AlignedBuffer buffer;
  double* w = buffer.get<double>(R * C + (uv ? C * C : 0) + 2 * C + R * qcols);
  double* v = uv ? w + R * C : nullptr;
  double* norms = w + R * C + (uv ? C * C : 0);
  double* order_d = norms + C;  // indices, stored as doubles (exact below 2^53)
  double* q = order_d + C;

  int exponent = 0;
  if (amax > 0) std::frexp(amax, &exponent);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double x = std::ldexp(double(a[i * n + j]), -exponent);
      if (tr) w[i * R + j] = x;  // column i of A^T
      else w[j * R + i] = x;
    }
  if (uv) {
    std::fill(v, v + C * C, 0.0);
    for (int64_t j = 0; j < C; ++j) v[j * C + j] = 1;
  }
  jacobi(w, v, R, C);

  // Columns by descending norm; insertion sort keeps equal norms in column order (C is small
  // next to the C^2 R of the sweeps).
  for (int64_t j = 0; j < C; ++j) {
    norms[j] = norm2(w + j * R, R);
    int64_t at = j;
    while (at > 0 && norms[int64_t(order_d[at - 1])] < norms[j]) {
      order_d[at] = order_d[at - 1];
      --at;
    }
    order_d[at] = double(j);
  }
  auto order = [&](int64_t j) { return int64_t(order_d[j]); };
  for (int64_t j = 0; j < k; ++j) s[j] = T(std::ldexp(norms[order(j)], exponent));
  if (!uv) return 0;

  // The long side's basis: normalised columns of W, then completed up to `cols` columns.
  int64_t have = 0;
  for (int64_t j = 0; j < C; ++j) {
    double nj = norms[order(j)];
    if (nj < kTiny) break;  // sorted: the rest are (numerically) zero too
    const double* src = w + order(j) * R;
    double* dst = q + have * R;
    for (int64_t r = 0; r < R; ++r) dst[r] = src[r] / nj;
    ++have;
  }
  complete_basis(q, R, have, cols);
  // The short side's basis: V's columns in the same order (C x C, always complete).
  auto short_side = [&](int64_t row, int64_t col) { return v[order(col) * C + row]; };
  if (!tr) {  // A = Q S V^T: u = Q (m, ucols), vh = V^T (n, n)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < ucols; ++j) u[i * ucols + j] = T(q[j * R + i]);
    for (int64_t i = 0; i < vrows; ++i)
      for (int64_t j = 0; j < n; ++j) vh[i * n + j] = T(short_side(j, i));
  } else {  // A^T = Q S V^T, so A = V S Q^T: u = V (m, m), vh = Q^T (vrows, n)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < ucols; ++j) u[i * ucols + j] = T(short_side(i, j));
    for (int64_t i = 0; i < vrows; ++i)
      for (int64_t j = 0; j < n; ++j) vh[i * n + j] = T(q[i * R + j]);
  }
  return 0;
}

template <class T>
void svd_typed(const SvdArgs& g) {
  const int64_t k = std::min(g.m, g.n);
  const int64_t ucols = g.full_matrices ? g.m : k, vrows = g.full_matrices ? g.n : k;
  const T* a = static_cast<const T*>(g.a);
  T* u = static_cast<T*>(g.u);
  T* s = static_cast<T*>(g.s);
  T* vh = static_cast<T*>(g.vh);
  // Tasks of about a million multiply-adds of one sweep, so small batches still spread out. The
  // working memory may fail to allocate: guarded, that becomes MemoryError at the caller.
  int64_t work = std::max<int64_t>(1, g.m * g.n * k);
  int64_t grain = std::max<int64_t>(1, (int64_t(1) << 20) / work);
  guarded_parallel_for(0, g.batch, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      g.info[b] = svd_one<T>(a + b * g.m * g.n, g.m, g.n, g.compute_uv ? u + b * g.m * ucols : nullptr, s + b * k,
                             g.compute_uv ? vh + b * vrows * g.n : nullptr, g.full_matrices, g.compute_uv);
    }
  });
}

void svd_kernel(const SvdArgs& g) {
  if (g.dtype == DType::Float64) svd_typed<double>(g);
  else svd_typed<float>(g);
}

}  // namespace

void register_linalg(KernelTable& table) { table.svd = svd_kernel; }

}  // namespace lamina::cpu::LAMINA_ISA_NS
