// The NCCL calls of src/ on the CPU (LOCKSTEP_CUDA=EMU). Each rank's "GPU" is its own process's device thread
// (cudart_emu.cpp); the ranks of a communicator exchange data over Unix sockets named by the unique id, in the
// abstract namespace: ranks of one host only, as with mpirun -np N on a workstation. What it keeps of NCCL:
//   - A call is an op on its stream that waits for its peers there, as NCCL's kernels do: the device reaches
//     it without the host synchronizing (device_emu.h's `comm`), and a host that polls sees cudaErrorNotReady
//     until the slowest peer arrives.
//   - ncclCommInitRank is collective. A non-blocking communicator answers ncclInProgress until every peer has
//     connected; two ranks on one device fail it with ncclInvalidUsage ("Duplicate GPU detected").
//   - Collectives pair up by their order of issue on the communicator, sends and receives by their order
//     between two ranks: every rank must make the same calls in the same order, as NCCL requires.
//   - All-reduce adds the ranks' values in rank order, in fp32 for fp16/bf16 with one rounding: every rank
//     gets the same bits, as NCCL's ring gives.
//   - A send outside a group waits for its receiver (code that relies on NCCL buffering it deadlocks here
//     too); inside ncclGroupStart/End sends are buffered and go first, so a group's exchange cannot
//     deadlock, as NCCL promises for a group. Collectives carry their call: ranks that disagree (another
//     collective, count, type or root) fail loudly where NCCL would hang or deliver garbage.
//   - ncclCommAbort releases a device waiting in a call: the op fails, a sticky device fault. A call waiting
//     for a peer whose process ended waits on (NCCL's kernel would spin) and sets the communicator's
//     asynchronous error to ncclRemoteError.
//   - A call captured into a CUDA graph holds a reference on its communicator for as long as the graph, an
//     executable made from it or a queued launch of it exists, and ncclCommDestroy and ncclCommAbort wait
//     until none is left, forever (NCCL's commDestroySync: "keep polling until all graphs referencing us
//     die"; its abort flag ends the kernels, not that wait). Graphs must go before their communicators,
//     on a failure too.
// Not kept: NCCL's own algorithms (fp16/bf16 all-reduce rounds once, as NCCL's ring does at two ranks only);
// collectives inside a group run at once instead of at ncclGroupEnd; ncclCommDestroy fails the calls still
// queued instead of waiting for them; ncclCommFinalize waits for nothing (NCCL's waits for the graphs too);
// ranks on more than one host (the sockets are the host's).
#include <nccl.h>
#include <fcntl.h>
#include <sys/poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "device_emu.h"

namespace {

std::string g_last_error;  // NCCL keeps one per process: src/ asks ncclGetLastError(nullptr)

ncclResult_t refuse(ncclResult_t r, std::string why) {
    g_last_error = "NCCL emulation: " + std::move(why);
    return r;
}

size_t type_size(ncclDataType_t t) {
    switch (t) {
        case ncclInt8: case ncclUint8: return 1;
        case ncclFloat16: case ncclBfloat16: return 2;
        case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
        default: return 8;
    }
}

enum Kind : uint32_t { kHello, kCollective, kP2P, kAck };

// What a collective call was, sent with its data: ranks that disagree (an all-reduce against an all-gather, a
// different count, type or root) fail loudly here, where NCCL would hang or deliver garbage.
struct Call {
    uint32_t what = 0;  // kAllReduce...
    uint32_t type = 0;
    int32_t root = -1;
    uint32_t pad = 0;
    uint64_t count = 0;
    bool operator==(const Call&) const = default;
};
enum What : uint32_t { kAllReduce = 1, kAllGather, kBroadcast };

std::string describe(const Call& c) {
    static const char* names[] = {"?", "ncclAllReduce", "ncclAllGather", "ncclBroadcast"};
    std::string s = std::string(names[c.what < 4 ? c.what : 0]) + " of " + std::to_string(c.count) +
                    " elements of ncclDataType " + std::to_string(c.type);
    if (c.what == kBroadcast) s += " from root " + std::to_string(c.root);
    return s;
}

struct Header {
    uint32_t kind, src;
    uint64_t seq, bytes;
    Call call;
    uint32_t wants_ack = 0, pad = 0;  // kP2P: the sender waits for the receiver's kAck
};

struct Message {
    Call call;
    bool wants_ack = false;
    std::vector<char> data;
};

void write_all(int fd, const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) throw std::runtime_error(std::string("socket write: ") + std::strerror(errno));
        c += k;
        n -= size_t(k);
    }
}

bool read_all(int fd, void* p, size_t n) {  // false at the end of the stream
    char* c = static_cast<char*>(p);
    while (n > 0) {
        const ssize_t k = ::read(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        c += k;
        n -= size_t(k);
    }
    return true;
}

// One rank's end of a communicator, shared by the handle and the ops queued with it (which may outlive the
// handle). Its two threads take `this` only: they end in stop(), before it goes.
struct Comm {
    int nranks = 1, rank = 0;
    std::string id_hex, bus;  // the unique id (names the sockets); this rank's device

    std::mutex mu;
    std::condition_variable cv;  // a message, a peer, an end
    std::map<std::tuple<uint32_t, uint32_t, uint64_t>, Message> inbox;  // (kind, src, seq) → its message
    std::vector<bool> peer_closed;
    int connected = 0, greeted = 0;  // peers this rank reached, and those that reached it
    ncclResult_t state = ncclInProgress;
    std::string error;
    bool stopped = false;  // by ncclCommDestroy/Abort: waiting calls fail
    std::atomic<int> graph_refs{0};  // captured calls still held by a graph, an executable or a queued launch

    std::vector<int> out;  // a socket to each peer (written by the device thread once ready)
    int listener = -1, wake[2] = {-1, -1};
    std::thread connector, receiver;

    // Used by the device thread only: the order of calls pairs them up.
    uint64_t collectives = 0;
    std::vector<uint64_t> sent, received;

    ~Comm() {
        stop();
        for (int fd : out)
            if (fd >= 0) ::close(fd);
    }

    std::string socket_name(int r) const { return "lockstep-nccl-emu-" + id_hex + "-" + std::to_string(r); }

    static sockaddr_un address(const std::string& name, socklen_t* len) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: the abstract namespace
        *len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
        return a;
    }

    void ready_if_complete() {  // under mu
        if (state == ncclInProgress && connected == nranks - 1 && greeted == nranks - 1) state = ncclSuccess;
        cv.notify_all();
    }

    void fail_async(ncclResult_t r, std::string why) {  // under mu
        if (state != ncclInProgress && state != ncclSuccess) return;  // the first error stays
        state = r;
        error = std::move(why);
        cv.notify_all();
    }

    void connect_all() {
        for (int r = 0; r < nranks; r++) {
            if (r == rank) continue;
            socklen_t len;
            const sockaddr_un a = address(socket_name(r), &len);
            int fd = -1;
            for (;;) {  // the peer may not have bound its socket yet: NCCL's init waits for every rank too
                {
                    std::lock_guard<std::mutex> lk(mu);
                    if (stopped) return;
                }
                fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), len) == 0) break;
                ::close(fd);
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
            const Header h{kHello, uint32_t(rank), 0, bus.size(), {}, 0, 0};
            try {
                write_all(fd, &h, sizeof h);
                write_all(fd, bus.data(), bus.size());
            } catch (const std::exception& e) {
                ::close(fd);
                std::lock_guard<std::mutex> lk(mu);
                fail_async(ncclSystemError, "rank " + std::to_string(rank) + " greeting rank " + std::to_string(r) +
                                                ": " + e.what());
                return;
            }
            std::lock_guard<std::mutex> lk(mu);
            out[size_t(r)] = fd;
            connected++;
            ready_if_complete();
        }
    }

    // Accepts the peers' connections and files every message they send in the inbox.
    void receive_all() {
        std::vector<pollfd> fds{{wake[0], POLLIN, 0}, {listener, POLLIN, 0}};
        std::vector<int> src_of{-1, -1};  // per entry of fds: the peer (-1 until its greeting)
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[0].revents) {  // stop()
                for (size_t i = 2; i < fds.size(); i++) ::close(fds[i].fd);
                return;
            }
            if (fds[1].revents & POLLIN) {
                const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd >= 0) {
                    fds.push_back({fd, POLLIN, 0});
                    src_of.push_back(-1);
                }
            }
            for (size_t i = 2; i < fds.size(); i++) {
                if (!fds[i].revents) continue;
                Header h{};
                std::vector<char> data;
                bool ok = read_all(fds[i].fd, &h, sizeof h);
                if (ok) {
                    data.resize(h.bytes);
                    ok = read_all(fds[i].fd, data.data(), data.size());
                }
                std::lock_guard<std::mutex> lk(mu);
                if (!ok || h.src >= uint32_t(nranks)) {  // the peer's process ended, or its communicator did
                    if (src_of[i] >= 0) peer_closed[size_t(src_of[i])] = true;
                    ::close(fds[i].fd);
                    fds.erase(fds.begin() + long(i));
                    src_of.erase(src_of.begin() + long(i));
                    i--;
                    cv.notify_all();
                    continue;
                }
                if (h.kind == kHello) {
                    src_of[i] = int(h.src);
                    const std::string peer_bus(data.begin(), data.end());
                    if (peer_bus == bus)
                        fail_async(ncclInvalidUsage, "Duplicate GPU detected: rank " + std::to_string(rank) +
                                                         " and rank " + std::to_string(h.src) +
                                                         " both on CUDA device " + bus);
                    greeted++;
                    ready_if_complete();
                } else {
                    inbox[{h.kind, h.src, h.seq}] = Message{h.call, h.wants_ack != 0, std::move(data)};
                    cv.notify_all();
                }
            }
        }
    }

    void start() {
        socklen_t len;
        const sockaddr_un a = address(socket_name(rank), &len);
        listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::bind(listener, reinterpret_cast<const sockaddr*>(&a), len) != 0 || ::listen(listener, nranks) != 0)
            throw std::runtime_error("rank " + std::to_string(rank) + " of this unique id cannot listen (" +
                                     std::strerror(errno) + "): is the rank taken twice?");
        if (::pipe2(wake, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
        receiver = std::thread([this] { receive_all(); });
        connector = std::thread([this] { connect_all(); });
    }

    // Ends the threads, and the connections (shut down: an op writing to one fails; closed with the last
    // reference). Ops still queued with it fail (they wait on `stopped`).
    void stop() {
        {
            std::lock_guard<std::mutex> lk(mu);
            if (stopped) return;
            stopped = true;
            cv.notify_all();
        }
        if (wake[1] >= 0) (void)!::write(wake[1], "x", 1);
        if (connector.joinable()) connector.join();
        if (receiver.joinable()) receiver.join();
        for (int fd : out)
            if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
        for (int* fd : {&listener, &wake[0], &wake[1]})
            if (*fd >= 0) ::close(std::exchange(*fd, -1));
    }

    // --- On the device thread, inside ops ---

    [[noreturn]] void fail_op(const std::string& why) const {
        throw std::runtime_error("NCCL emulation: rank " + std::to_string(rank) + " of " + std::to_string(nranks) +
                                 ": " + why);
    }

    void post(int to, Kind kind, uint64_t seq, const void* p, size_t bytes, const Call& call = {},
              bool wants_ack = false) {
        if (to == rank) {
            std::lock_guard<std::mutex> lk(mu);
            const char* c = static_cast<const char*>(p);
            inbox[{kind, uint32_t(rank), seq}] = Message{call, wants_ack, std::vector<char>(c, c + bytes)};
            cv.notify_all();
            return;
        }
        int fd;
        {
            std::lock_guard<std::mutex> lk(mu);
            if (stopped) fail_op("the communicator was aborted (ncclCommAbort)");
            fd = out[size_t(to)];
        }
        const Header h{kind, uint32_t(rank), seq, bytes, call, wants_ack ? 1u : 0u, 0};
        try {
            write_all(fd, &h, sizeof h);
            write_all(fd, p, bytes);
        } catch (const std::exception& e) {
            fail_op("sending to rank " + std::to_string(to) + ": " + e.what());
        }
    }

    Message take(int from, Kind kind, uint64_t seq) {
        std::unique_lock<std::mutex> lk(mu);
        const auto key = std::make_tuple(uint32_t(kind), uint32_t(from), seq);
        // A peer that is gone leaves the call waiting, as NCCL's kernel spins on, and says so as the
        // communicator's asynchronous error: only ncclCommAbort (or the end of the process) releases it.
        while (!stopped && !inbox.count(key)) {
            if (peer_closed[size_t(from)])
                fail_async(ncclRemoteError, "rank " + std::to_string(from) +
                                                " closed its connection (its process ended?) before sending");
            cv.wait(lk);
        }
        auto it = inbox.find(key);
        if (it == inbox.end())
            fail_op("the communicator was aborted (ncclCommAbort) while waiting for rank " + std::to_string(from));
        Message m = std::move(it->second);
        inbox.erase(it);
        return m;
    }

    // The message of one collective from rank `from`, which must have made the same call.
    std::vector<char> take_collective(int from, uint64_t seq, const Call& call) {
        Message m = take(from, kCollective, seq);
        if (!(m.call == call))
            fail_op("collective #" + std::to_string(seq) + " is " + describe(call) + " here but " +
                    describe(m.call) + " on rank " + std::to_string(from) +
                    ": the ranks must make the same NCCL calls in the same order");
        return std::move(m.data);
    }

    // Every rank's `bytes` of one collective, in rank order.
    std::vector<std::vector<char>> exchange(const void* mine, size_t bytes, const Call& call) {
        const uint64_t seq = collectives++;
        for (int r = 0; r < nranks; r++)
            if (r != rank) post(r, kCollective, seq, mine, bytes, call);
        std::vector<std::vector<char>> all(static_cast<size_t>(nranks));
        for (int r = 0; r < nranks; r++) {
            if (r == rank)
                all[size_t(r)].assign(static_cast<const char*>(mine), static_cast<const char*>(mine) + bytes);
            else
                all[size_t(r)] = take_collective(r, seq, call);
        }
        return all;
    }
};

}  // namespace

struct ncclComm {
    std::shared_ptr<Comm> c;
};

namespace {

struct Deferred {  // a send or receive inside ncclGroupStart/End
    bool is_send;
    cudaStream_t stream;
    std::function<void()> op;
};
int g_group_depth = 0;
std::vector<Deferred> g_group;

// The op of a call, holding a reference on its communicator when the stream is being captured: the graph
// and every copy of the op made from it (its executable's, each launch's queued one) share it, and it is
// released when the last of them goes. Single-rank communicators take none (NCCL runs those as a plain copy).
std::function<void()> held_by_graph(cudaStream_t stream, const std::shared_ptr<Comm>& c, std::function<void()> op) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (c->nranks == 1 || cudaStreamIsCapturing(stream, &status) != cudaSuccess ||
        status == cudaStreamCaptureStatusNone)
        return op;
    c->graph_refs++;
    std::shared_ptr<void> ref(nullptr, [c](void*) { c->graph_refs--; });
    return [op = std::move(op), ref] { op(); };
}

// A collective's op on its stream: the device reaches it unasked when peers wait for it (device_emu.h).
void enqueue_call(cudaStream_t stream, const std::shared_ptr<Comm>& c, std::function<void()> op) {
    ls::emu::enqueue(stream, held_by_graph(stream, c, std::move(op)), c->nranks > 1);
}

// ncclCommDestroy and ncclCommAbort: the communicator stops (waiting calls fail), then, as NCCL does, the call
// waits for every graph that captured one of its calls to be destroyed. It says so once, since NCCL's silence
// there looks like any other hang.
ncclResult_t release(ncclComm_t comm, const char* call) {
    if (!comm) return refuse(ncclInvalidArgument, std::string(call) + " of a null communicator");
    std::shared_ptr<Comm> c = comm->c;
    c->stop();
    for (int ms = 0; c->graph_refs > 0; ms++) {
        if (ms == 2000)
            std::fprintf(stderr, "NCCL emulation: rank %d: %s waits for %d captured call(s) of CUDA graphs that "
                                 "still exist: NCCL does not return until those graphs are destroyed\n",
                         c->rank, call, c->graph_refs.load());
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    delete comm;
    return ncclSuccess;
}

bool device_buffer(const void* p, size_t bytes) { return bytes == 0 || ls::emu::is_device_memory(p, bytes); }

ncclResult_t check_comm(ncclComm_t comm) {
    if (!comm) return refuse(ncclInvalidArgument, "a null communicator");
    std::lock_guard<std::mutex> lk(comm->c->mu);
    if (comm->c->state == ncclInProgress) return refuse(ncclInvalidUsage, "a call before the communicator is ready");
    if (comm->c->state != ncclSuccess) return refuse(comm->c->state, comm->c->error);
    return ncclSuccess;
}

// The element types all-reduce sums (src/ reduces no others).
bool summable(ncclDataType_t t, ls::DType* d) {
    switch (t) {
        case ncclFloat32: *d = ls::DType::F32; return true;
        case ncclFloat16: *d = ls::DType::F16; return true;
        case ncclBfloat16: *d = ls::DType::BF16; return true;
        case ncclInt32: *d = ls::DType::I32; return true;
        case ncclInt64: *d = ls::DType::I64; return true;
        default: return false;
    }
}

template <class T>
void sum_ints(const std::vector<std::vector<char>>& all, void* out, size_t count) {
    for (size_t i = 0; i < count; i++) {
        T acc = 0;
        for (const auto& part : all) acc += reinterpret_cast<const T*>(part.data())[i];
        static_cast<T*>(out)[i] = acc;
    }
}

void sum(const std::vector<std::vector<char>>& all, void* out, size_t count, ls::DType d) {
    if (d == ls::DType::I32) return sum_ints<int32_t>(all, out, count);
    if (d == ls::DType::I64) return sum_ints<int64_t>(all, out, count);
    std::vector<float> acc(count, 0.0f), part(count);
    for (const auto& p : all) {
        ls::convert_to_f32(p.data(), d, part.data(), count);
        for (size_t i = 0; i < count; i++) acc[i] += part[i];
    }
    for (size_t i = 0; i < count; i++) {
        if (d == ls::DType::F16)
            static_cast<uint16_t*>(out)[i] = ls::f32_to_f16(acc[i]);
        else if (d == ls::DType::BF16)
            static_cast<uint16_t*>(out)[i] = ls::f32_to_bf16(acc[i]);
        else
            static_cast<float*>(out)[i] = acc[i];
    }
}

ncclResult_t init(ncclComm_t* comm, int nranks, const ncclUniqueId& id, int rank, bool blocking) {
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return refuse(ncclInvalidArgument, "rank " + std::to_string(rank) + " of " + std::to_string(nranks));
    auto c = std::make_shared<Comm>();
    c->nranks = nranks;
    c->rank = rank;
    char bus[32] = {0};
    cudaDeviceGetPCIBusId(bus, sizeof bus, ls::emu::current_device());
    c->bus = bus;
    for (int i = 0; i < 16; i++) {
        char h[3];
        std::snprintf(h, sizeof h, "%02x", unsigned(static_cast<unsigned char>(id.internal[i])));
        c->id_hex += h;
    }
    c->out.assign(size_t(nranks), -1);
    c->peer_closed.assign(size_t(nranks), false);
    c->sent.assign(size_t(nranks), 0);
    c->received.assign(size_t(nranks), 0);
    if (nranks == 1) {
        c->state = ncclSuccess;
    } else {
        try {
            c->start();
        } catch (const std::exception& e) {
            return refuse(ncclSystemError, e.what());
        }
    }
    *comm = new ncclComm{c};
    if (!blocking) return c->state == ncclSuccess ? ncclSuccess : ncclInProgress;
    std::unique_lock<std::mutex> lk(c->mu);
    c->cv.wait(lk, [&] { return c->state != ncclInProgress; });
    return c->state == ncclSuccess ? ncclSuccess : refuse(c->state, c->error);
}

ncclResult_t enqueue_p2p(bool is_send, void* buf, size_t count, ncclDataType_t t, int peer, ncclComm_t comm,
                         cudaStream_t stream) {
    if (const ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
    std::shared_ptr<Comm> c = comm->c;
    if (peer < 0 || peer >= c->nranks)
        return refuse(ncclInvalidArgument, "peer " + std::to_string(peer) + " on a communicator of " +
                                               std::to_string(c->nranks) + " ranks");
    const size_t bytes = count * type_size(t);
    if (!device_buffer(buf, bytes)) return refuse(ncclInvalidArgument, "a buffer outside device memory (cudaMalloc'd)");
    // A send outside a group completes only once its receiver has taken it (the receiver's kAck): code that
    // needs NCCL to buffer a send deadlocks here too. Inside a group it is buffered, as NCCL's group allows.
    const bool grouped = g_group_depth > 0;
    std::function<void()> op;
    if (is_send)
        op = [c, buf, bytes, peer, grouped] {
            const uint64_t seq = c->sent[size_t(peer)]++;
            c->post(peer, kP2P, seq, buf, bytes, {}, !grouped);
            if (!grouped) c->take(peer, kAck, seq);
        };
    else
        op = [c, buf, bytes, peer] {
            const uint64_t seq = c->received[size_t(peer)]++;
            const Message m = c->take(peer, kP2P, seq);
            if (m.data.size() != bytes)
                c->fail_op("receiving " + std::to_string(bytes) + " bytes from rank " + std::to_string(peer) +
                           ", which sent " + std::to_string(m.data.size()));
            std::memcpy(buf, m.data.data(), bytes);
            if (m.wants_ack) c->post(peer, kAck, seq, nullptr, 0);
        };
    op = held_by_graph(stream, c, std::move(op));
    if (grouped)
        g_group.push_back({is_send, stream, std::move(op)});
    else
        ls::emu::enqueue(stream, std::move(op), true);
    return ncclSuccess;
}

}  // namespace

ncclResult_t ncclGetVersion(int* version) {
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
    std::random_device rd;
    for (char& c : id->internal) c = char(rd());
    return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank, ncclConfig_t* config) {
    return init(comm, nranks, id, rank, !config || config->blocking != 0);
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
    return init(comm, nranks, id, rank, true);
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* state) {
    if (!comm) return refuse(ncclInvalidArgument, "a null communicator");
    std::lock_guard<std::mutex> lk(comm->c->mu);
    *state = comm->c->state;
    if (*state != ncclSuccess && *state != ncclInProgress) g_last_error = "NCCL emulation: " + comm->c->error;
    return ncclSuccess;
}

ncclResult_t ncclCommFinalize(ncclComm_t comm) { return comm ? ncclSuccess : ncclInvalidArgument; }

ncclResult_t ncclCommDestroy(ncclComm_t comm) { return release(comm, "ncclCommDestroy"); }

ncclResult_t ncclCommAbort(ncclComm_t comm) { return release(comm, "ncclCommAbort"); }

const char* ncclGetErrorString(ncclResult_t r) {
    switch (r) {
        case ncclSuccess: return "no error (NCCL emulation)";
        case ncclSystemError: return "unhandled system error (NCCL emulation)";
        case ncclInvalidArgument: return "invalid argument (NCCL emulation)";
        case ncclInvalidUsage: return "invalid usage (NCCL emulation)";
        case ncclRemoteError: return "remote process exited or there was a network error (NCCL emulation)";
        case ncclInProgress: return "NCCL operation in progress (NCCL emulation)";
        default: return "NCCL error (NCCL emulation)";
    }
}

const char* ncclGetLastError(ncclComm_t) { return g_last_error.c_str(); }

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
    if (const ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
    if (op != ncclSum) return refuse(ncclInvalidArgument, "only ncclSum is emulated");
    ls::DType d;
    if (!summable(t, &d))
        return refuse(ncclInvalidArgument, "all-reduce of ncclDataType " + std::to_string(int(t)) + " is not emulated");
    const size_t bytes = count * type_size(t);
    if (!device_buffer(send, bytes) || !device_buffer(recv, bytes))
        return refuse(ncclInvalidArgument, "a buffer outside device memory (cudaMalloc'd)");
    std::shared_ptr<Comm> c = comm->c;
    const Call call{kAllReduce, uint32_t(t), -1, 0, count};
    enqueue_call(stream, c, [c, send, recv, count, d, bytes, call] {
        sum(c->exchange(send, bytes, call), recv, count, d);
    });
    return ncclSuccess;
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t t, ncclComm_t comm,
                           cudaStream_t stream) {
    if (const ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
    std::shared_ptr<Comm> c = comm->c;
    const size_t bytes = count * type_size(t);
    if (!device_buffer(send, bytes) || !device_buffer(recv, bytes * size_t(c->nranks)))
        return refuse(ncclInvalidArgument, "a buffer outside device memory (cudaMalloc'd)");
    const Call call{kAllGather, uint32_t(t), -1, 0, count};
    enqueue_call(stream, c, [c, send, recv, bytes, call] {
        const std::vector<std::vector<char>> all = c->exchange(send, bytes, call);
        for (size_t r = 0; r < all.size(); r++) std::memcpy(static_cast<char*>(recv) + r * bytes, all[r].data(), bytes);
    });
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t t, int root, ncclComm_t comm,
                           cudaStream_t stream) {
    if (const ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
    std::shared_ptr<Comm> c = comm->c;
    if (root < 0 || root >= c->nranks) return refuse(ncclInvalidArgument, "root " + std::to_string(root));
    const size_t bytes = count * type_size(t);
    if (!device_buffer(recv, bytes) || (c->rank == root && !device_buffer(send, bytes)))
        return refuse(ncclInvalidArgument, "a buffer outside device memory (cudaMalloc'd)");
    const Call call{kBroadcast, uint32_t(t), root, 0, count};
    enqueue_call(stream, c, [c, send, recv, bytes, root, call] {
        const uint64_t seq = c->collectives++;
        if (c->rank == root) {
            for (int r = 0; r < c->nranks; r++)
                if (r != root) c->post(r, kCollective, seq, send, bytes, call);
            if (send != recv) std::memmove(recv, send, bytes);
            return;
        }
        const std::vector<char> data = c->take_collective(root, seq, call);
        std::memcpy(recv, data.data(), bytes);
    });
    return ncclSuccess;
}

ncclResult_t ncclSend(const void* buf, size_t count, ncclDataType_t t, int peer, ncclComm_t comm, cudaStream_t stream) {
    return enqueue_p2p(true, const_cast<void*>(buf), count, t, peer, comm, stream);
}

ncclResult_t ncclRecv(void* buf, size_t count, ncclDataType_t t, int peer, ncclComm_t comm, cudaStream_t stream) {
    return enqueue_p2p(false, buf, count, t, peer, comm, stream);
}

ncclResult_t ncclGroupStart() {
    g_group_depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
    if (g_group_depth == 0) return refuse(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
    if (--g_group_depth > 0) return ncclSuccess;
    for (bool sends : {true, false})
        for (Deferred& d : g_group)
            if (d.is_send == sends) ls::emu::enqueue(d.stream, std::move(d.op), true);
    g_group.clear();
    return ncclSuccess;
}
