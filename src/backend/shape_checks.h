// The operand shapes the backends' ops accept, checked in one place for the CPU and the CUDA backend (each adds
// its own dtype rules). A bad shape throws ls::Error naming the op and every operand's shape.
#pragma once
#include "core/tensor.h"

namespace ls {

// y: [batch, >= n, d_out]; x: [n, d_in]; w: [batch · d_out, d_in]; bias: [batch · d_out].
void check_linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias);
// y, x: [n, d]; gamma, beta: [d].
void check_layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta, const char* op);
// h, y: [n, d]; bias: [d].
void check_residual(const Tensor& h, const Tensor& y, const Tensor& bias, const char* op);
// y: [n, d]; bias: [d].
void check_bias(const Tensor& y, const Tensor& bias, const char* op);

}  // namespace ls
