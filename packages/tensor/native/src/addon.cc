// meddl native CPU kernels for tfjs: a Node-API addon working in place on the typed arrays
// of tfjs's cpu backend. GEMM goes through OpenBLAS (cblas_sgemm); elementwise kernels,
// reductions, softmax, transpose, gather and segment sums are plain C++ split over a small
// number of threads. Every kernel splits work over disjoint output ranges and reduces
// sequentially inside a range, so results do not depend on scheduling.
#include <napi.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>
#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#define MEDDL_HAVE_MXCSR 1
#endif

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}

namespace {

int g_threads = 1;

// Flush-to-zero and denormals-are-zero for the current thread while in scope (x86 SSE; a no-op
// elsewhere). Every kernel runs under it (as TensorFlow's CPU kernels do): gradients deep in a
// network and Adam's exp_avg_sq underflow into float32 denormals (< 1.2e-38), and denormal
// arithmetic costs ~100 cycles per operation (OpenBLAS GEMMs 2-3x, the Adam step 65x slower).
// It is scoped to the native call, so JavaScript's own double arithmetic is unaffected.
struct FlushDenormals {
#ifdef MEDDL_HAVE_MXCSR
  unsigned int saved;
  FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

// Runs fn(begin, end) over [0, n) split into contiguous chunks, on up to g_threads threads
// when the work (n * cost) is large enough to pay for starting them.
void ParallelFor(int64_t n, double cost, const std::function<void(int64_t, int64_t)>& fn) {
  int threads = g_threads;
  const double work = static_cast<double>(n) * cost;
  if (threads > 1 && work < 262144.0) threads = 1;
  if (threads > n) threads = static_cast<int>(std::max<int64_t>(n, 1));
  if (threads <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  const int64_t chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&fn, b, e] {
      FlushDenormals ftz;
      fn(b, e);
    });
  }
  fn(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

// Like ParallelFor, but hands each chunk its index (0 .. chunks-1) so that callers can keep
// per-chunk partial sums and combine them in chunk order (deterministic for a fixed thread
// count). Returns the number of chunks used.
int ParallelChunks(int64_t n, double cost, const std::function<void(int, int64_t, int64_t)>& fn) {
  int threads = g_threads;
  const double work = static_cast<double>(n) * cost;
  if (threads > 1 && work < 262144.0) threads = 1;
  if (threads > n) threads = static_cast<int>(std::max<int64_t>(n, 1));
  if (threads <= 1) {
    if (n > 0) fn(0, 0, n);
    return 1;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&fn, t, b, e] {
      FlushDenormals ftz;
      fn(t, b, e);
    });
  }
  fn(0, 0, std::min(n, chunk));
  for (auto& th : pool) th.join();
  return threads;
}

// exp(x) for float32 in straight-line arithmetic that GCC vectorizes (Cephes expf: range
// reduction by ln 2 in two parts, degree-6 polynomial, exponent by bit shift): within 2 ulp of
// std::exp over the float range; exactly 0 below -87.34 (e^x underflows), NaN stays NaN.
inline float FastExp(float x) {
  const float xc = std::min(std::max(x, -87.33654f), 88.72283f);
  const float fx = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (xc - fx * 0.693359375f) + fx * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = (p * r) * r + r + 1.0f;
  const int32_t n = static_cast<int32_t>(fx);
  int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  float out = y * scale;
  out = x < -87.33654f ? 0.0f : out;
  out = x > 88.72283f ? INFINITY : out;
  return x != x ? x : out;
}

// erf(x) for float32 (Abramowitz & Stegun 7.1.26 with FastExp): absolute error below 2e-7, used
// where erf enters as 1 + erf(x) (GELU), i.e. to within about one float ulp of 1.
inline float FastErf(float x) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float e = 1.0f - p * t * FastExp(-ax * ax);
  return x < 0 ? -e : e;
}

// Hot loops get an AVX2 clone next to the baseline (SSE2) one; the loader picks by CPU (GCC
// function multiversioning). Same operations in the same order, so the same results.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MEDDL_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MEDDL_SIMD_CLONES
#endif


template <typename T>
T* Ptr(const Napi::Value& v) {
  auto arr = v.As<Napi::TypedArray>();
  auto buf = arr.ArrayBuffer();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(buf.Data()) + arr.ByteOffset());
}
size_t Len(const Napi::Value& v) { return v.As<Napi::TypedArray>().ElementLength(); }
int64_t I(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
double D(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
std::vector<int64_t> Ints(const Napi::Value& v) {
  auto* p = Ptr<int32_t>(v);
  return std::vector<int64_t>(p, p + Len(v));
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = static_cast<int>(I(info, 0));
  if (n < 1) n = 1;
  g_threads = n;
  openblas_set_num_threads(n);
  return Napi::Number::New(info.Env(), n);
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), g_threads);
}

Napi::Value BlasConfig(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), openblas_get_config());
}

// sgemmBatch(a, b, c, m, n, k, transA, transB, aOffsets: Int32Array, bOffsets: Int32Array)
// C[i] (m x n, contiguous) = op(A at aOffsets[i]) * op(B at bOffsets[i]).
Napi::Value SgemmBatch(const Napi::CallbackInfo& info) {
  const float* a = Ptr<float>(info[0]);
  const float* b = Ptr<float>(info[1]);
  float* c = Ptr<float>(info[2]);
  const int m = static_cast<int>(I(info, 3)), n = static_cast<int>(I(info, 4)), k = static_cast<int>(I(info, 5));
  const bool ta = info[6].As<Napi::Boolean>().Value(), tb = info[7].As<Napi::Boolean>().Value();
  const int32_t* ao = Ptr<int32_t>(info[8]);
  const int32_t* bo = Ptr<int32_t>(info[9]);
  const size_t batch = Len(info[8]);
  const int lda = ta ? m : k, ldb = tb ? k : n;
  for (size_t i = 0; i < batch; ++i) {
    float* ci = c + static_cast<int64_t>(i) * m * n;
    if (k == 0) {
      std::fill(ci, ci + static_cast<int64_t>(m) * n, 0.0f);
      continue;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a + ao[i], lda, b + bo[i], ldb, 0.0f, ci, n);
  }
  return info.Env().Undefined();
}

enum BinaryOp { kAdd = 0, kSub, kMul, kDiv, kMax, kMin, kSqDiff };

template <int OP>
inline float Bin(float x, float y) {
  if (OP == kAdd) return x + y;
  if (OP == kSub) return x - y;
  if (OP == kMul) return x * y;
  if (OP == kDiv) return x / y;
  if (OP == kMax) return (x != x || y != y) ? NAN : (x > y ? x : y);
  if (OP == kMin) return (x != x || y != y) ? NAN : (x < y ? x : y);
  const float d = x - y;
  return d * d;
}

template <int OP>
void BinaryRun(const float* a, const float* b, float* out, const std::vector<int64_t>& shape,
               const std::vector<int64_t>& as, const std::vector<int64_t>& bs) {
  const int rank = static_cast<int>(shape.size());
  const int64_t inner = shape[rank - 1];
  const int64_t ai = as[rank - 1], bi = bs[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  ParallelFor(rows, static_cast<double>(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, ao = 0, bo = 0;
      for (int d = rank - 2; d >= 0; --d) {
        const int64_t idx = rem % shape[d];
        rem /= shape[d];
        ao += idx * as[d];
        bo += idx * bs[d];
      }
      const float* pa = a + ao;
      const float* pb = b + bo;
      float* po = out + r * inner;
      if (ai == 1 && bi == 1) {
        for (int64_t j = 0; j < inner; ++j) po[j] = Bin<OP>(pa[j], pb[j]);
      } else if (ai == 1) {
        const float y = pb[0];
        for (int64_t j = 0; j < inner; ++j) po[j] = Bin<OP>(pa[j], y);
      } else if (bi == 1) {
        const float x = pa[0];
        for (int64_t j = 0; j < inner; ++j) po[j] = Bin<OP>(x, pb[j]);
      } else {
        const float v = Bin<OP>(pa[0], pb[0]);
        for (int64_t j = 0; j < inner; ++j) po[j] = v;
      }
    }
  });
}

// binary(op, a, aShape, b, bShape, out, outShape): shapes are Int32Arrays of equal rank
// (the caller left-pads them with 1s); a dimension of size 1 broadcasts.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(I(info, 0));
  const float* a = Ptr<float>(info[1]);
  auto ash = Ints(info[2]);
  const float* b = Ptr<float>(info[3]);
  auto bsh = Ints(info[4]);
  float* out = Ptr<float>(info[5]);
  auto osh = Ints(info[6]);
  const int rank = static_cast<int>(osh.size());
  // Row-major strides of a and b, 0 where the dimension broadcasts.
  std::vector<int64_t> ast(rank), bst(rank);
  int64_t sa = 1, sb = 1;
  for (int d = rank - 1; d >= 0; --d) {
    ast[d] = ash[d] == 1 ? 0 : sa;
    bst[d] = bsh[d] == 1 ? 0 : sb;
    sa *= ash[d];
    sb *= bsh[d];
  }
  // Coalesce adjacent dimensions that broadcast the same way; drop dimensions of size 1.
  std::vector<int64_t> shape, as, bs;
  for (int d = 0; d < rank; ++d) {
    if (osh[d] == 1) continue;
    if (!shape.empty()) {
      const size_t l = shape.size() - 1;
      const bool aSame = (as[l] == 0) == (ast[d] == 0), bSame = (bs[l] == 0) == (bst[d] == 0);
      if (aSame && bSame) {
        shape[l] *= osh[d];
        as[l] = ast[d];
        bs[l] = bst[d];
        continue;
      }
    }
    shape.push_back(osh[d]);
    as.push_back(ast[d]);
    bs.push_back(bst[d]);
  }
  if (shape.empty()) {
    shape.push_back(1);
    as.push_back(0);
    bs.push_back(0);
  }
  switch (op) {
    case kAdd: BinaryRun<kAdd>(a, b, out, shape, as, bs); break;
    case kSub: BinaryRun<kSub>(a, b, out, shape, as, bs); break;
    case kMul: BinaryRun<kMul>(a, b, out, shape, as, bs); break;
    case kDiv: BinaryRun<kDiv>(a, b, out, shape, as, bs); break;
    case kMax: BinaryRun<kMax>(a, b, out, shape, as, bs); break;
    case kMin: BinaryRun<kMin>(a, b, out, shape, as, bs); break;
    case kSqDiff: BinaryRun<kSqDiff>(a, b, out, shape, as, bs); break;
    default: Napi::Error::New(info.Env(), "binary: unknown op").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

enum UnaryOp {
  kExp = 0, kLog, kTanh, kSigmoid, kRelu, kRelu6, kErf, kSqrt, kRsqrt, kNeg, kAbs, kSquare, kReciprocal,
  kElu, kLeakyRelu, kStep, kSin, kCos
};

template <int OP>
inline float Un(float x, float alpha) {
  if (OP == kExp) return std::exp(x);
  if (OP == kLog) return std::log(x);
  if (OP == kTanh) return std::tanh(x);
  if (OP == kSigmoid) return 1.0f / (1.0f + std::exp(-x));
  if (OP == kRelu) return x != x ? x : (x > 0 ? x : 0.0f);
  if (OP == kRelu6) return x != x ? x : std::min(std::max(x, 0.0f), 6.0f);
  if (OP == kErf) return std::erf(x);
  if (OP == kSqrt) return std::sqrt(x);
  if (OP == kRsqrt) return 1.0f / std::sqrt(x);
  if (OP == kNeg) return -x;
  if (OP == kAbs) return std::fabs(x);
  if (OP == kSquare) return x * x;
  if (OP == kReciprocal) return 1.0f / x;
  if (OP == kElu) return x >= 0 ? x : std::exp(x) - 1.0f;
  if (OP == kLeakyRelu) return x < 0 ? alpha * x : x;
  if (OP == kStep) return x != x ? NAN : (x > 0 ? 1.0f : alpha);
  if (OP == kSin) return std::sin(x);
  return std::cos(x);
}

template <int OP>
void UnaryRun(const float* x, float* out, int64_t n, float alpha) {
  ParallelFor(n, 8.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = Un<OP>(x[i], alpha);
  });
}

// unary(op, x, out, alpha)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(I(info, 0));
  const float* x = Ptr<float>(info[1]);
  float* out = Ptr<float>(info[2]);
  const float alpha = static_cast<float>(D(info, 3));
  const int64_t n = static_cast<int64_t>(Len(info[1]));
#define U(NAME) \
  case NAME: UnaryRun<NAME>(x, out, n, alpha); break;
  switch (op) {
    U(kExp) U(kLog) U(kTanh) U(kSigmoid) U(kRelu) U(kRelu6) U(kErf) U(kSqrt) U(kRsqrt) U(kNeg) U(kAbs)
    U(kSquare) U(kReciprocal) U(kElu) U(kLeakyRelu) U(kStep) U(kSin) U(kCos)
    default: Napi::Error::New(info.Env(), "unary: unknown op").ThrowAsJavaScriptException();
  }
#undef U
  return info.Env().Undefined();
}

enum ReduceOp { kSum = 0, kMean, kRMax, kRMin, kProd };

// reduce(op, x, out, outer, inner): out[i] = reduce(x[i*inner .. (i+1)*inner)).
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(I(info, 0));
  const float* x = Ptr<float>(info[1]);
  float* out = Ptr<float>(info[2]);
  const int64_t outer = I(info, 3), inner = I(info, 4);
  ParallelFor(outer, static_cast<double>(inner), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* p = x + i * inner;
      if (op == kSum || op == kMean) {
        double s = 0;
        for (int64_t j = 0; j < inner; ++j) s += p[j];
        out[i] = static_cast<float>(op == kMean ? s / static_cast<double>(inner) : s);
      } else if (op == kProd) {
        double s = 1;
        for (int64_t j = 0; j < inner; ++j) s *= p[j];
        out[i] = static_cast<float>(s);
      } else {
        float m = p[0];
        for (int64_t j = 1; j < inner; ++j) {
          const float v = p[j];
          if (v != v || (op == kRMax ? v > m : v < m)) m = v;
        }
        out[i] = m;
      }
    }
  });
  return info.Env().Undefined();
}

// reduceMiddle(op, x, out, outer, red, inner): out[o, i] = reduce_r x[o, r, i], for reductions
// over contiguous axes that are not innermost (bias gradients, batch means) without a transpose.
Napi::Value ReduceMiddle(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(I(info, 0));
  const float* x = Ptr<float>(info[1]);
  float* out = Ptr<float>(info[2]);
  const int64_t outer = I(info, 3), red = I(info, 4), inner = I(info, 5);
  const int64_t chunk = 256;  // columns per task
  const int64_t tilesPerRow = (inner + chunk - 1) / chunk;
  ParallelFor(outer * tilesPerRow, static_cast<double>(red * std::min(inner, chunk)), [&](int64_t b, int64_t e) {
    std::vector<double> acc(chunk);
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / tilesPerRow, c0 = (t % tilesPerRow) * chunk, c1 = std::min(inner, c0 + chunk);
      const float* base = x + o * red * inner;
      float* dst = out + o * inner;
      if (op == kSum || op == kMean || op == kProd) {
        std::fill(acc.begin(), acc.end(), op == kProd ? 1.0 : 0.0);
        for (int64_t r = 0; r < red; ++r) {
          const float* row = base + r * inner;
          if (op == kProd)
            for (int64_t i = c0; i < c1; ++i) acc[i - c0] *= row[i];
          else
            for (int64_t i = c0; i < c1; ++i) acc[i - c0] += row[i];
        }
        const double scale = op == kMean ? 1.0 / static_cast<double>(red) : 1.0;
        for (int64_t i = c0; i < c1; ++i) dst[i] = static_cast<float>(acc[i - c0] * scale);
      } else {
        for (int64_t i = c0; i < c1; ++i) dst[i] = base[i];
        for (int64_t r = 1; r < red; ++r) {
          const float* row = base + r * inner;
          for (int64_t i = c0; i < c1; ++i) {
            const float v = row[i];
            if (v != v || (op == kRMax ? v > dst[i] : v < dst[i])) dst[i] = v;
          }
        }
      }
    }
  });
  return info.Env().Undefined();
}

// Softmax of rows [r0, r1) of x [rows, cols] along the last axis.
MEDDL_SIMD_CLONES
void SoftmaxRows(const float* x, float* out, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* p = x + r * cols;
    float* o = out + r * cols;
    float m = -INFINITY;
    for (int64_t j = 0; j < cols; ++j) m = p[j] > m ? p[j] : m;
    for (int64_t j = 0; j < cols; ++j) o[j] = FastExp(p[j] - m);
    // Four interleaved double accumulators (a fixed order, so still deterministic).
    double s4[4] = {0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 4 <= cols; j += 4)
      for (int k = 0; k < 4; ++k) s4[k] += o[j + k];
    for (; j < cols; ++j) s4[0] += o[j];
    const double s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < cols; ++j) o[j] *= inv;
  }
}

// softmax(x, out, rows, cols) along the last axis.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const float* x = Ptr<float>(info[0]);
  float* out = Ptr<float>(info[1]);
  const int64_t rows = I(info, 2), cols = I(info, 3);
  ParallelFor(rows, static_cast<double>(cols) * 8,
              [&](int64_t b, int64_t e) { SoftmaxRows(x, out, b, e, cols); });
  return info.Env().Undefined();
}

// transpose(x, shape, perm, out) for 4-byte elements.
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  const uint32_t* x = Ptr<uint32_t>(info[0]);
  auto shape = Ints(info[1]);
  auto perm = Ints(info[2]);
  uint32_t* out = Ptr<uint32_t>(info[3]);
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> xs(rank);
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    xs[d] = s;
    s *= shape[d];
  }
  const int64_t total = s;
  // Output dim d reads input dim perm[d].
  std::vector<int64_t> oshape(rank), ostr(rank);
  for (int d = 0; d < rank; ++d) {
    oshape[d] = shape[perm[d]];
    ostr[d] = xs[perm[d]];
  }
  if (rank == 0 || total == 0) {
    if (total == 1) out[0] = x[0];
    return info.Env().Undefined();
  }
  const int64_t inner = oshape[rank - 1], istr = ostr[rank - 1];
  const int64_t rows = total / inner;
  ParallelFor(rows, static_cast<double>(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, off = 0;
      for (int d = rank - 2; d >= 0; --d) {
        off += (rem % oshape[d]) * ostr[d];
        rem /= oshape[d];
      }
      uint32_t* o = out + r * inner;
      const uint32_t* p = x + off;
      for (int64_t j = 0; j < inner; ++j) o[j] = p[j * istr];
    }
  });
  return info.Env().Undefined();
}

// slice(x, shape, begin, size, out) for 4-byte elements: the box [begin, begin + size) of x.
Napi::Value Slice(const Napi::CallbackInfo& info) {
  const uint32_t* x = Ptr<uint32_t>(info[0]);
  auto shape = Ints(info[1]);
  auto begin = Ints(info[2]);
  auto size = Ints(info[3]);
  uint32_t* out = Ptr<uint32_t>(info[4]);
  const int rank = static_cast<int>(shape.size());
  if (rank == 0) {
    out[0] = x[0];
    return info.Env().Undefined();
  }
  std::vector<int64_t> xs(rank);
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    xs[d] = st;
    st *= shape[d];
  }
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= size[d];
  if (total == 0) return info.Env().Undefined();
  const int64_t inner = size[rank - 1];
  const int64_t rows = total / inner;
  ParallelFor(rows, static_cast<double>(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, off = begin[rank - 1];
      for (int d = rank - 2; d >= 0; --d) {
        off += (rem % size[d] + begin[d]) * xs[d];
        rem /= size[d];
      }
      std::memcpy(out + r * inner, x + off, sizeof(uint32_t) * inner);
    }
  });
  return info.Env().Undefined();
}

// gather(x, indices, out, outer, axisSize, inner) for 4-byte elements; returns the first
// out-of-range index position or -1.
Napi::Value Gather(const Napi::CallbackInfo& info) {
  const uint32_t* x = Ptr<uint32_t>(info[0]);
  const int32_t* idx = Ptr<int32_t>(info[1]);
  const int64_t nIdx = static_cast<int64_t>(Len(info[1]));
  uint32_t* out = Ptr<uint32_t>(info[2]);
  const int64_t outer = I(info, 3), axis = I(info, 4), inner = I(info, 5);
  for (int64_t i = 0; i < nIdx; ++i)
    if (idx[i] < 0 || idx[i] >= axis) return Napi::Number::New(info.Env(), static_cast<double>(i));
  ParallelFor(outer * nIdx, static_cast<double>(inner), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r / nIdx, i = r % nIdx;
      std::memcpy(out + r * inner, x + (o * axis + idx[i]) * inner, sizeof(uint32_t) * inner);
    }
  });
  return Napi::Number::New(info.Env(), -1);
}

// segmentSum(x, ids, out, n, inner, numSegments): out[ids[i]] += x[i]; ids outside
// [0, numSegments) are dropped. Parallel over the inner dimension, sequential over i.
Napi::Value SegmentSum(const Napi::CallbackInfo& info) {
  const float* x = Ptr<float>(info[0]);
  const int32_t* ids = Ptr<int32_t>(info[1]);
  float* out = Ptr<float>(info[2]);
  const int64_t n = I(info, 3), inner = I(info, 4), segs = I(info, 5);
  std::fill(out, out + segs * inner, 0.0f);
  ParallelFor(inner, static_cast<double>(n), [&](int64_t b, int64_t e) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = ids[i];
      if (s < 0 || s >= segs) continue;
      const float* p = x + i * inner;
      float* o = out + s * inner;
      for (int64_t j = b; j < e; ++j) o[j] += p[j];
    }
  });
  return info.Env().Undefined();
}

// conv(mode, a, b, out, p): 3-D convolution, channels last (NDHWC, filter [kd, kh, kw, C, OC]);
// 2-D convolutions pass depth 1. p = [N, D, H, W, C, kd, kh, kw, OC, oD, oH, oW, sd, sh, sw,
// dd, dh, dw, padFront, padTop, padLeft]. Per batch item, an im2col matrix [oD*oH*oW, kd*kh*kw*C]
// turns the convolution into one GEMM.
//   mode 0 (forward):         a = x,  b = filter, out = y
//   mode 1 (input gradient):  a = dy, b = filter, out = dx   (col2im of dy * filter^T)
//   mode 2 (filter gradient): a = x,  b = dy,     out = dW   (sum over batch of cols^T * dy)
Napi::Value Conv(const Napi::CallbackInfo& info) {
  const int mode = static_cast<int>(I(info, 0));
  const float* a = Ptr<float>(info[1]);
  const float* b = Ptr<float>(info[2]);
  float* out = Ptr<float>(info[3]);
  auto p = Ints(info[4]);
  const int64_t N = p[0], D = p[1], H = p[2], W = p[3], C = p[4], kd = p[5], kh = p[6], kw = p[7], OC = p[8];
  const int64_t oD = p[9], oH = p[10], oW = p[11], sd = p[12], sh = p[13], sw = p[14], dd = p[15], dh = p[16],
                dw = p[17], pf = p[18], pt = p[19], pl = p[20];
  const int64_t rows = oD * oH * oW, K = kd * kh * kw * C, inSize = D * H * W * C;
  std::vector<float> cols(static_cast<size_t>(rows * K));
  auto forEachPatch = [&](const std::function<void(int64_t row, int64_t col, int64_t inOff)>& fn) {
    for (int64_t od = 0; od < oD; ++od)
      for (int64_t oh = 0; oh < oH; ++oh)
        for (int64_t ow = 0; ow < oW; ++ow) {
          const int64_t row = (od * oH + oh) * oW + ow;
          for (int64_t fd = 0; fd < kd; ++fd) {
            const int64_t id = od * sd + fd * dd - pf;
            for (int64_t fh = 0; fh < kh; ++fh) {
              const int64_t ih = oh * sh + fh * dh - pt;
              for (int64_t fw = 0; fw < kw; ++fw) {
                const int64_t iw = ow * sw + fw * dw - pl;
                const int64_t col = ((fd * kh + fh) * kw + fw) * C;
                const bool inside = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;
                fn(row, col, inside ? ((id * H + ih) * W + iw) * C : -1);
              }
            }
          }
        }
  };
  if (mode == 2) std::fill(out, out + K * OC, 0.0f);
  if (mode == 1) std::fill(out, out + N * inSize, 0.0f);
  for (int64_t n = 0; n < N; ++n) {
    if (mode == 0 || mode == 2) {
      const float* x = a + n * inSize;
      forEachPatch([&](int64_t row, int64_t col, int64_t off) {
        float* dst = cols.data() + row * K + col;
        if (off < 0) std::fill(dst, dst + C, 0.0f);
        else std::memcpy(dst, x + off, sizeof(float) * C);
      });
      if (mode == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, OC, K, 1.0f, cols.data(), K, b, OC, 0.0f,
                    out + n * rows * OC, OC);
      } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, OC, rows, 1.0f, cols.data(), K, b + n * rows * OC, OC,
                    1.0f, out, OC);
      }
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, K, OC, 1.0f, a + n * rows * OC, OC, b, OC, 0.0f,
                  cols.data(), K);
      float* dx = out + n * inSize;
      forEachPatch([&](int64_t row, int64_t col, int64_t off) {
        if (off < 0) return;
        const float* src = cols.data() + row * K + col;
        float* dst = dx + off;
        for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
      });
    }
  }
  return info.Env().Undefined();
}

// ---- Fused kernels used by @meddl/nn and @meddl/trainer when the native backend is active ----

// layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, eps): per row of x [rows, cols],
// mean and biased variance, rstd = 1/sqrt(var + eps), y = (x - mean) * rstd * gamma + beta.
// The float operations are those of the composed tfjs path (moments, rsqrt, mul, add), so y is
// bit-identical to it on this backend.
Napi::Value LayerNormFwd(const Napi::CallbackInfo& info) {
  const float* x = Ptr<float>(info[0]);
  const float* g = Ptr<float>(info[1]);
  const float* bt = Ptr<float>(info[2]);
  float* y = Ptr<float>(info[3]);
  float* mean = Ptr<float>(info[4]);
  float* rstd = Ptr<float>(info[5]);
  const int64_t rows = I(info, 6), cols = I(info, 7);
  const float eps = static_cast<float>(D(info, 8));
  ParallelFor(rows, static_cast<double>(cols) * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* p = x + r * cols;
      float* o = y + r * cols;
      double s = 0;
      for (int64_t j = 0; j < cols; ++j) s += p[j];
      const float mu = static_cast<float>(s / static_cast<double>(cols));
      double q = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const float d = p[j] - mu;
        const float d2 = d * d;
        q += d2;
      }
      const float var = static_cast<float>(q / static_cast<double>(cols));
      const float rs = 1.0f / std::sqrt(var + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (int64_t j = 0; j < cols; ++j) {
        const float n = (p[j] - mu) * rs;
        const float t = n * g[j];
        o[j] = t + bt[j];
      }
    }
  });
  return info.Env().Undefined();
}

// layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols):
//   xhat = (x - mean) * rstd, gy = dy * gamma,
//   dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)),
//   dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy.
// Row sums and the column sums (per-chunk partials, combined in chunk order) are in double.
Napi::Value LayerNormBwd(const Napi::CallbackInfo& info) {
  const float* dy = Ptr<float>(info[0]);
  const float* x = Ptr<float>(info[1]);
  const float* g = Ptr<float>(info[2]);
  const float* mean = Ptr<float>(info[3]);
  const float* rstd = Ptr<float>(info[4]);
  float* dx = Ptr<float>(info[5]);
  float* dg = Ptr<float>(info[6]);
  float* db = Ptr<float>(info[7]);
  const int64_t rows = I(info, 8), cols = I(info, 9);
  const int maxChunks = std::max(1, g_threads);
  std::vector<double> pg(static_cast<size_t>(maxChunks * cols), 0.0), pb(static_cast<size_t>(maxChunks * cols), 0.0);
  const int chunks = ParallelChunks(rows, static_cast<double>(cols) * 6, [&](int c, int64_t r0, int64_t r1) {
    double* accG = pg.data() + c * cols;
    double* accB = pb.data() + c * cols;
    std::vector<float> xhat(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const float* pdy = dy + r * cols;
      const float* px = x + r * cols;
      float* pdx = dx + r * cols;
      const float mu = mean[r], rs = rstd[r];
      double sg = 0, sgx = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const float xh = (px[j] - mu) * rs;
        xhat[j] = xh;
        const float gy = pdy[j] * g[j];
        sg += gy;
        sgx += static_cast<double>(gy) * xh;
        accG[j] += static_cast<double>(pdy[j]) * xh;
        accB[j] += pdy[j];
      }
      const double inv = 1.0 / static_cast<double>(cols);
      const double a = sg * inv, b = sgx * inv;
      for (int64_t j = 0; j < cols; ++j) {
        const double gy = static_cast<double>(pdy[j]) * g[j];
        pdx[j] = static_cast<float>(rs * (gy - a - xhat[j] * b));
      }
    }
  });
  for (int64_t j = 0; j < cols; ++j) {
    double sG = 0, sB = 0;
    for (int c = 0; c < chunks; ++c) {
      sG += pg[c * cols + j];
      sB += pb[c * cols + j];
    }
    dg[j] = static_cast<float>(sG);
    db[j] = static_cast<float>(sB);
  }
  return info.Env().Undefined();
}

MEDDL_SIMD_CLONES
void GeluRange(const float* x, float* out, int64_t b, int64_t e) {
  const float r2 = static_cast<float>(M_SQRT1_2);
  for (int64_t i = b; i < e; ++i) {
    const float v = x[i];
    const float h = 0.5f * v;
    const float t = 1.0f + FastErf(v * r2);
    out[i] = h * t;
  }
}

MEDDL_SIMD_CLONES
void GeluGradRange(const float* dy, const float* x, float* dx, int64_t b, int64_t e) {
  const float r2 = static_cast<float>(M_SQRT1_2);
  const float c = static_cast<float>(0.3989422804014327);  // 1 / sqrt(2 pi)
  for (int64_t i = b; i < e; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + FastErf(v * r2));
    const float pdf = c * FastExp(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

// gelu(x, out): exact (erf) GELU, 0.5 x (1 + erf(x / sqrt 2)), with a vectorized erf (FastErf:
// within ~1 ulp of the composed tfjs ops' 1 + erf).
Napi::Value GeluFwd(const Napi::CallbackInfo& info) {
  const float* x = Ptr<float>(info[0]);
  float* out = Ptr<float>(info[1]);
  const int64_t n = static_cast<int64_t>(Len(info[0]));
  ParallelFor(n, 16.0, [&](int64_t b, int64_t e) { GeluRange(x, out, b, e); });
  return info.Env().Undefined();
}

// geluGrad(dy, x, dx): dx = dy * (Phi(x) + x * phi(x)), Phi the normal CDF, phi its density.
Napi::Value GeluBwd(const Napi::CallbackInfo& info) {
  const float* dy = Ptr<float>(info[0]);
  const float* x = Ptr<float>(info[1]);
  float* dx = Ptr<float>(info[2]);
  const int64_t n = static_cast<int64_t>(Len(info[1]));
  ParallelFor(n, 24.0, [&](int64_t b, int64_t e) { GeluGradRange(dy, x, dx, b, e); });
  return info.Env().Undefined();
}

// adam(p, g, m, v, pOut, mOut, vOut, hp: Float64Array, first: bool): one torch.optim.Adam /
// AdamW step for one parameter, with exactly the float operations (and float32 constants) of
// @meddl/trainer's composed update, so results are bit-identical to it (except that denormal
// inputs and intermediates, below 1.2e-38 in magnitude, are flushed to zero):
//   hp = [lr, beta1, beta2, eps, weightDecay, step, decoupled (0/1)]
//   Adam:  gr = g + p * wd (wd != 0);            AdamW: p = p * (1 - lr * wd) (wd != 0)
//   m = m * b1 + gr * (1 - b1)   (first step: gr * (1 - b1))
//   v = v * b2 + gr^2 * (1 - b2) (first step: gr^2 * (1 - b2))
//   p = p - (m / (sqrt(v) / sqrt(bc2) + eps)) * (lr / bc1)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  const float* p = Ptr<float>(info[0]);
  const float* g = Ptr<float>(info[1]);
  const bool first = info[8].As<Napi::Boolean>().Value();
  const float* m = first ? nullptr : Ptr<float>(info[2]);
  const float* v = first ? nullptr : Ptr<float>(info[3]);
  float* po = Ptr<float>(info[4]);
  float* mo = Ptr<float>(info[5]);
  float* vo = Ptr<float>(info[6]);
  const double* hp = Ptr<double>(info[7]);
  const int64_t n = static_cast<int64_t>(Len(info[0]));
  const double lr = hp[0], b1 = hp[1], b2 = hp[2], eps = hp[3], wd = hp[4], step = hp[5];
  const bool decoupled = hp[6] != 0;
  const float fb1 = static_cast<float>(b1), f1b1 = static_cast<float>(1 - b1);
  const float fb2 = static_cast<float>(b2), f1b2 = static_cast<float>(1 - b2);
  const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
  const float fsbc2 = static_cast<float>(std::sqrt(bc2)), feps = static_cast<float>(eps);
  const float fscale = static_cast<float>(lr / bc1);
  const float fwd = static_cast<float>(wd), fdecay = static_cast<float>(1 - lr * wd);
  const bool hasWd = wd != 0;
  ParallelFor(n, 16.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float pi = p[i];
      float gi = g[i];
      if (hasWd) {
        if (decoupled) {
          pi = pi * fdecay;
        } else {
          const float t = pi * fwd;
          gi = gi + t;
        }
      }
      const float ga = gi * f1b1;
      const float sq = gi * gi;
      const float gb = sq * f1b2;
      float mi, vi;
      if (first) {
        mi = ga;
        vi = gb;
      } else {
        const float ma = m[i] * fb1;
        mi = ma + ga;
        const float va = v[i] * fb2;
        vi = va + gb;
      }
      const float s = std::sqrt(vi);
      const float sd = s / fsbc2;
      const float denom = sd + feps;
      const float q = mi / denom;
      const float u = q * fscale;
      po[i] = pi - u;
      mo[i] = mi;
      vo[i] = vi;
    }
  });
  return info.Env().Undefined();
}

// softmaxGrad(y, dy, dx, rows, cols): dx = y * (dy - sum_j dy_j y_j) per row (last axis).
Napi::Value SoftmaxGrad(const Napi::CallbackInfo& info) {
  const float* y = Ptr<float>(info[0]);
  const float* dy = Ptr<float>(info[1]);
  float* dx = Ptr<float>(info[2]);
  const int64_t rows = I(info, 3), cols = I(info, 4);
  ParallelFor(rows, static_cast<double>(cols) * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* py = y + r * cols;
      const float* pd = dy + r * cols;
      float* o = dx + r * cols;
      double s = 0;
      for (int64_t j = 0; j < cols; ++j) s += static_cast<double>(pd[j]) * py[j];
      const float fs = static_cast<float>(s);
      for (int64_t j = 0; j < cols; ++j) o[j] = py[j] * (pd[j] - fs);
    }
  });
  return info.Env().Undefined();
}

// dropoutMask(state: Uint32Array(4), out, p, scale): out[i] = u_i >= p ? scale : 0 with u_i the
// successive Generator.random() draws of @meddl/tensor's xoshiro128** generator (two 32-bit
// outputs per draw, 53-bit double), advancing `state` in place: the same masks as the JS loop.
Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
  uint32_t* st = Ptr<uint32_t>(info[0]);
  float* out = Ptr<float>(info[1]);
  const int64_t n = static_cast<int64_t>(Len(info[1]));
  const double p = D(info, 2);
  const float scale = static_cast<float>(D(info, 3));
  uint32_t s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  auto rotl = [](uint32_t x, int k) { return (x << k) | (x >> (32 - k)); };
  auto next = [&]() {
    const uint32_t result = rotl(s1 * 5u, 7) * 9u;
    const uint32_t t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t hi = next() >> 5;
    const uint32_t lo = next() >> 6;
    const double u = (static_cast<double>(hi) * 67108864.0 + static_cast<double>(lo)) / 9007199254740992.0;
    out[i] = u >= p ? scale : 0.0f;
  }
  st[0] = s0;
  st[1] = s1;
  st[2] = s2;
  st[3] = s3;
  return info.Env().Undefined();
}

// Runs a kernel with denormals flushed (see FlushDenormals).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Ftz(const Napi::CallbackInfo& info) {
  FlushDenormals ftz;
  return F(info);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* t = std::getenv("MEDDL_THREADS")) {
    const int v = std::atoi(t);
    if (v > 0) threads = v;
  }
  if (threads < 1) threads = 1;
  g_threads = threads;

  openblas_set_num_threads(threads);
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("blasConfig", Napi::Function::New(env, BlasConfig));
  exports.Set("sgemmBatch", Napi::Function::New(env, Ftz<SgemmBatch>));
  exports.Set("binary", Napi::Function::New(env, Ftz<Binary>));
  exports.Set("unary", Napi::Function::New(env, Ftz<Unary>));
  exports.Set("reduce", Napi::Function::New(env, Ftz<Reduce>));
  exports.Set("reduceMiddle", Napi::Function::New(env, Ftz<ReduceMiddle>));
  exports.Set("conv", Napi::Function::New(env, Ftz<Conv>));
  exports.Set("softmax", Napi::Function::New(env, Ftz<Softmax>));
  exports.Set("transpose", Napi::Function::New(env, Ftz<Transpose>));
  exports.Set("gather", Napi::Function::New(env, Ftz<Gather>));
  exports.Set("slice", Napi::Function::New(env, Ftz<Slice>));
  exports.Set("segmentSum", Napi::Function::New(env, Ftz<SegmentSum>));
  exports.Set("layerNorm", Napi::Function::New(env, Ftz<LayerNormFwd>));
  exports.Set("layerNormGrad", Napi::Function::New(env, Ftz<LayerNormBwd>));
  exports.Set("gelu", Napi::Function::New(env, Ftz<GeluFwd>));
  exports.Set("geluGrad", Napi::Function::New(env, Ftz<GeluBwd>));
  exports.Set("adam", Napi::Function::New(env, Ftz<AdamStep>));
  exports.Set("softmaxGrad", Napi::Function::New(env, Ftz<SoftmaxGrad>));
  exports.Set("dropoutMask", Napi::Function::New(env, Ftz<DropoutMask>));
  return exports;
}

}  // namespace

NODE_API_MODULE(meddl_native, Init)
