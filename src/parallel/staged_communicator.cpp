#include "parallel/staged_communicator.h"

#include <cstring>

namespace ls {

StagedCommunicator::StagedCommunicator(MPI_Comm group, std::string group_name, Backend& be)
    : host_(group, std::move(group_name)), be_(be) {}

Tensor StagedCommunicator::to_host(const Tensor& x, std::vector<char>& buf, bool as_f32) {
    Tensor h = x;
    if (as_f32 && (x.dtype == DType::F16 || x.dtype == DType::BF16)) {  // widened into buf as fp32
        narrow_.resize(size_t(x.numel()));
        be_.copy_to_host(narrow_.data(), x);  // waits for the stream: the producing kernels have finished
        buf.resize(size_t(x.numel()) * 4);
        convert_to_f32(narrow_.data(), x.dtype, reinterpret_cast<float*>(buf.data()), narrow_.size());
        h.dtype = DType::F32;
    } else {
        buf.resize(x.nbytes());
        be_.copy_to_host(buf.data(), x);
    }
    h.data = buf.data();
    return h;
}

void StagedCommunicator::from_host(const Tensor& x, const Tensor& host) {
    if (host.dtype == x.dtype) {
        be_.copy_from_host(x, host.data);
        return;
    }
    narrow_.resize(size_t(x.numel()));
    const float* f = host.f32();
    for (size_t i = 0; i < narrow_.size(); i++) narrow_[i] = x.dtype == DType::F16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
    be_.copy_from_host(x, narrow_.data());
}

void StagedCommunicator::all_reduce_sum(const Tensor& x) {
    if (size() == 1) return;
    TimedCall t(stats_[size_t(CollectiveKind::AllReduce)], x.nbytes());
    const Tensor h = to_host(x, a_, true);
    host_.all_reduce_sum(h);
    from_host(x, h);
}

void StagedCommunicator::all_gather(const Tensor& out, const Tensor& in) {
    TimedCall t(stats_[size_t(CollectiveKind::AllGather)], in.nbytes());
    const Tensor hi = to_host(in, a_, false);
    Tensor ho = out;
    b_.resize(out.nbytes());
    ho.data = b_.data();
    host_.all_gather(ho, hi);
    be_.copy_from_host(out, ho.data);
}

void StagedCommunicator::gather(const Tensor& out, const Tensor& in, int root) {
    TimedCall t(stats_[size_t(CollectiveKind::Gather)], in.nbytes());
    const Tensor hi = to_host(in, a_, false);
    Tensor ho = out;
    b_.resize(rank() == root ? out.nbytes() : 0);
    ho.data = b_.data();
    host_.gather(ho, hi, root);
    if (rank() == root) be_.copy_from_host(out, ho.data);
}

void StagedCommunicator::broadcast(const Tensor& x, int root) {
    if (size() == 1) return;
    TimedCall t(stats_[size_t(CollectiveKind::Broadcast)], x.nbytes());
    const Tensor h = to_host(x, a_, false);
    host_.broadcast(h, root);
    if (rank() != root) be_.copy_from_host(x, h.data);
}

void StagedCommunicator::send(const Tensor& x, int dst) {
    TimedCall t(stats_[size_t(CollectiveKind::SendRecv)], x.nbytes());
    host_.send(to_host(x, a_, false), dst);
}

void StagedCommunicator::recv(const Tensor& x, int src) {
    TimedCall t(stats_[size_t(CollectiveKind::SendRecv)], x.nbytes());
    Tensor h = x;
    a_.resize(x.nbytes());
    h.data = a_.data();
    host_.recv(h, src);
    be_.copy_from_host(x, h.data);
}

}  // namespace ls
