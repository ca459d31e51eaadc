// gemm.h: general matrix multiply, C = alpha * op(A) * op(B) + beta * C, row-major.
#pragma once
#include <cstdint>
#include <memory>

namespace chalknet {

namespace gemm_detail {
template <typename T>
struct Kernel;
}

// c (m, n) with row stride ldc               output, read when beta != 0
// a (m, k) with row stride lda, or (k, m) when trans_a
// b (k, n) with row stride ldb, or (n, k) when trans_b
// The result does not depend on the number of threads: the output is partitioned, never the
// k reduction.
template <typename T>
void gemm(T* c, int64_t ldc, const T* a, int64_t lda, bool trans_a, const T* b, int64_t ldb,
          bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, T beta);

// op(B) (k, n) packed once into the panels gemm's microkernel reads, for many products with
// the same right-hand side (a recurrent kernel at every time step).  It is packed for the
// instruction-set path running when it is made and keeps using that path.
template <typename T>
class PackedB {
 public:
  // b (k, n) with row stride ldb, or (n, k) when trans_b, as for gemm; packed into storage of
  // its own.
  PackedB(const T* b, int64_t ldb, bool trans_b, int64_t k, int64_t n);
  // The same, packed into `storage`: storage_size(k, n) elements, best 64-byte aligned, kept
  // alive by the caller (who may reuse it across calls and spare the allocation).
  PackedB(const T* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, T* storage);
  // Elements a packed (k, n) matrix takes on the instruction-set path running now.
  static int64_t storage_size(int64_t k, int64_t n);

  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  const gemm_detail::Kernel<T>& kernel() const { return *kernel_; }
  const T* data() const { return data_; }

 private:
  struct Free {
    void operator()(T* p) const;
  };
  void pack(const T* b, int64_t ldb, bool trans_b);

  const gemm_detail::Kernel<T>* kernel_;
  int64_t k_, n_;
  std::unique_ptr<T, Free> owned_;  // 64-byte aligned; null when the caller gave the storage
  T* data_;
};

// c (m, n) = alpha * op(a) (m, k) . b + beta * c, with (k, n) the packed matrix's sizes:
// bit-identical to gemm with the unpacked matrix, for any thread count.
template <typename T>
void gemm_packed(T* c, int64_t ldc, const T* a, int64_t lda, bool trans_a, const PackedB<T>& b,
                 int64_t m, T alpha, T beta);

extern template void gemm<float>(float*, int64_t, const float*, int64_t, bool, const float*,
                                 int64_t, bool, int64_t, int64_t, int64_t, float, float);
extern template void gemm<double>(double*, int64_t, const double*, int64_t, bool, const double*,
                                  int64_t, bool, int64_t, int64_t, int64_t, double, double);
extern template class PackedB<float>;
extern template class PackedB<double>;
extern template void gemm_packed<float>(float*, int64_t, const float*, int64_t, bool,
                                        const PackedB<float>&, int64_t, float, float);
extern template void gemm_packed<double>(double*, int64_t, const double*, int64_t, bool,
                                         const PackedB<double>&, int64_t, double, double);

}  // namespace chalknet
