#include "backend/shape_checks.h"

namespace ls {

void check_linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias) {
    const int64_t batch = y.shape[0], cap = y.shape[1], d_out = y.shape[2];
    ENSURE(y.ndim == 3 && x.rows() <= cap && w.rows() == batch * d_out && w.cols() == x.cols() &&
               bias.numel() == batch * d_out,
           "linear_stacked: y[", batch, ",", cap, ",", d_out, "] for x[", x.rows(), ",", x.cols(), "] w[", w.rows(),
           ",", w.cols(), "] bias[", bias.numel(), "]");
}

void check_layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta, const char* op) {
    ENSURE(y.rows() == x.rows() && y.cols() == x.cols() && gamma.numel() == x.cols() && beta.numel() == x.cols(), op,
           ": y[", y.rows(), ",", y.cols(), "] x[", x.rows(), ",", x.cols(), "] gamma[", gamma.numel(), "] beta[",
           beta.numel(), "]");
}

void check_residual(const Tensor& h, const Tensor& y, const Tensor& bias, const char* op) {
    ENSURE(y.rows() == h.rows() && y.cols() == h.cols() && bias.numel() == h.cols(), op, ": h[", h.rows(), ",",
           h.cols(), "] y[", y.rows(), ",", y.cols(), "] bias[", bias.numel(), "]");
}

void check_bias(const Tensor& y, const Tensor& bias, const char* op) {
    ENSURE(bias.numel() == y.cols(), op, ": bias of ", bias.numel(), " for rows of ", y.cols());
}

}  // namespace ls
