// The misuse table: well over a hundred bad inputs, one test each. Every entry makes one bad call and
// says which exception it must throw and what the message must name (the culprit: the field, the
// value, the tensor, the chip). After each, the same Worker must run a good graph correctly — a
// rejected call changes nothing. The entries cover options, registration and life cycle, buffers and
// tensors (sizes at the type's limits, overflow, memory strata does not share), submits, and domains.
#include <climits>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <strata/strata.hpp>
#include <string>
#include <vector>

#include "integration/integration_util.hpp"
#include "support/scoped_env.hpp"

namespace {

using strata::DType;
using strata::Tag;
using strata::TaskArgs;
using strata::Tensor;

STRATA_KERNEL(mt_fill) {
  int64_t* x = ctx.data<int64_t>(0);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] = ctx.scalar<int64_t>(0) + static_cast<int64_t>(i);
}
STRATA_KERNEL(mt_other) { (void)ctx; }
void mt_plain(const strata::TaskContext&) {}

enum class Throws { Usage, Timeout, Error, ChildDied, Task };

// What a case works with: a started Worker (2 chips, 1 sub) with a kernel, a host callable and buffers.
struct Env {
  std::unique_ptr<strata::Worker> w;
  strata::Kernel fill;
  strata::HostFn host;
  strata::Buffer<int64_t> buf;
  void run(const std::function<void(strata::Orchestrator&)>& fn) { w->run(fn); }
};

struct Case {
  const char* name;
  Throws throws;
  const char* needle;  // the message must contain it
  std::function<void(Env&)> bad;
};

constexpr size_t kMax = std::numeric_limits<size_t>::max();
constexpr int64_t kBig = int64_t{1} << 33;

strata::WorkerOptions chips(int n) { return strata::WorkerOptions{.chips = n}; }

// A Worker built while STRATA_SIM_FAULTS asks for `faults` (the sim backend checks them then).
void sim_faults_worker(const char* faults) {
  const strata::test::ScopedEnv env("STRATA_SIM_FAULTS", faults);
  strata::Worker w(chips(1));
}

Tensor raw(void* p, std::initializer_list<int64_t> shape, DType dt = DType::I64) {
  Tensor t;
  t.data = p;
  t.dtype = dt;
  t.ndim = static_cast<uint8_t>(shape.size());  // may exceed kMaxDims: the extents past it are not stored
  size_t i = 0;
  for (int64_t s : shape)
    if (i < t.shape.size()) t.shape[i++] = s;
  return t;
}

std::vector<strata::ChipBringup> bringup2(size_t window = 4096,
                                          std::vector<strata::BufferSpec> buffers = {{"x", DType::F32, 16}}) {
  return {strata::ChipBringup{.rank = 0, .window_size = window, .buffers = buffers},
          strata::ChipBringup{.rank = 1, .window_size = window, .buffers = buffers}};
}

strata::DomainSpec dom(std::vector<int> workers, size_t window = 4096, std::vector<strata::BufferSpec> buffers = {}) {
  return strata::DomainSpec{
      .name = "d", .workers = std::move(workers), .window_size = window, .buffers = std::move(buffers)};
}

// Submits fill on `chip` with one tensor `t` tagged `tag`.
void submit_one(Env& e, Tensor t, Tag tag = Tag::OutputExisting, int chip = 0) {
  e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs().add(t, tag).scalar(int64_t{1}), {}, chip); });
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      // ---- WorkerOptions ----
      {"LevelTwo", Throws::Usage, "level is 2", [](Env&) { strata::Worker w({.level = 2}); }},
      {"LevelSeven", Throws::Usage, "level is 7", [](Env&) { strata::Worker w({.level = 7}); }},
      {"LevelNegative", Throws::Usage, "level is -1", [](Env&) { strata::Worker w({.level = -1}); }},
      {"ChipsNegative", Throws::Usage, "chips is -1", [](Env&) { strata::Worker w(chips(-1)); }},
      {"ChipsIntMin", Throws::Usage, "chips is -2147483648", [](Env&) { strata::Worker w(chips(INT_MIN)); }},
      {"SubsNegative", Throws::Usage, "sub_workers is -3", [](Env&) { strata::Worker w({.sub_workers = -3}); }},
      {"ChipsAndDeviceIdsDisagree", Throws::Usage, "device_ids lists 3",
       [](Env&) { strata::Worker w({.chips = 2, .device_ids = {0, 1, 2}}); }},
      {"DeviceIdTwice", Throws::Usage, "device_ids lists a device twice",
       [](Env&) { strata::Worker w({.device_ids = {3, 3}}); }},
      {"DeviceIdNegative", Throws::Usage, "device_ids lists -1", [](Env&) { strata::Worker w({.device_ids = {0, -1}}); }},
      {"DeviceIdIntMin", Throws::Usage, "device_ids lists -2147483648",
       [](Env&) { strata::Worker w({.device_ids = {INT_MIN}}); }},
      {"PodWithChips", Throws::Usage, "child Workers, not chips", [](Env&) { strata::Worker w({.level = 4, .chips = 1}); }},
      {"UnknownBackend", Throws::Usage, "backend 'nope'",
       [](Env&) { strata::Worker w({.chips = 1, .backend = {.name = "nope"}}); }},
      {"SimTakesNoOptions", Throws::Usage, "WorkerOptions::backend.options 'speed=3': the sim backend takes no options",
       [](Env&) { strata::Worker w({.chips = 1, .backend = {.options = "speed=3"}}); }},
      {"SimFaultsGarbage", Throws::Usage, "STRATA_SIM_FAULTS 'garbage': 'garbage' is not key=value",
       [](Env&) { sim_faults_worker("garbage"); }},
      {"SimFaultsUnknownKey", Throws::Usage, "unknown fault 'speed'", [](Env&) { sim_faults_worker("speed=3"); }},
      {"SimFaultsNotANumber", Throws::Usage, "not 'abc'", [](Env&) { sim_faults_worker("fail_window_alloc=abc"); }},
      {"SimFaultsNegative", Throws::Usage, "not '-1'", [](Env&) { sim_faults_worker("fail_window_alloc=-1"); }},
      {"SimFaultsEmptyItem", Throws::Usage, "is not key=value",
       [](Env&) { sim_faults_worker("fail_window_alloc=1,,x"); }},
      {"SubmitTimeoutNegative", Throws::Usage, "timeouts.submit is -5",
       [](Env&) { strata::Worker w({.chips = 1, .timeouts = {.submit = std::chrono::milliseconds(-5)}}); }},
      {"InitTimeoutNegative", Throws::Usage, "timeouts.init is -1",
       [](Env&) { strata::Worker w({.chips = 1, .timeouts = {.init = std::chrono::milliseconds(-1)}}); }},
      {"CommTimeoutNegative", Throws::Usage, "timeouts.comm is -7",
       [](Env&) { strata::Worker w({.chips = 1, .timeouts = {.comm = std::chrono::milliseconds(-7)}}); }},
      {"CloseTimeoutHuge", Throws::Usage, "timeouts.close is",
       [](Env&) { strata::Worker w({.chips = 1, .timeouts = {.close = std::chrono::milliseconds::max()}}); }},
      {"TaskRingHuge", Throws::Usage, "memory.task_ring is 1073741824",
       [](Env&) { strata::Worker w({.chips = 1, .memory = {.task_ring = 1u << 30}}); }},
      {"ChipThreadsHuge", Throws::Usage, "backend.chip_threads is 1048576",
       [](Env&) { strata::Worker w({.chips = 1, .backend = {.chip_threads = 1u << 20}}); }},
      {"HeapBytesMax", Throws::Usage, "memory.heap_bytes",
       [](Env&) { strata::Worker w({.chips = 1, .memory = {.heap_bytes = kMax}}); }},
      {"BufferBytesMax", Throws::Usage, "memory.buffer_bytes",
       [](Env&) { strata::Worker w({.chips = 1, .memory = {.buffer_bytes = kMax}}); }},
      {"ArenaSumOverflows", Throws::Usage, "memory.buffer_bytes",
       [](Env&) { strata::Worker w({.chips = 1, .memory = {.heap_bytes = kMax / 2 + 1, .buffer_bytes = kMax / 2 + 1}}); }},
      {"TooManyChildren", Throws::Usage, "at most 4096", [](Env&) { strata::Worker w(chips(100000)); }},
      {"BringupCountMismatch", Throws::Usage, "bringup has 2 entries for 3 chips",
       [](Env&) { strata::Worker w({.chips = 3, .bringup = bringup2()}); }},
      {"BringupRankNegative", Throws::Usage, "rank -1",
       [](Env&) {
         auto b = bringup2();
         b[1].rank = -1;
         strata::Worker w({.chips = 2, .bringup = b});
       }},
      {"BringupRankTwice", Throws::Usage, "bring-up of chip 1: rank 0",
       [](Env&) {
         auto b = bringup2();
         b[1].rank = 0;
         strata::Worker w({.chips = 2, .bringup = b});
       }},
      {"BringupWindowZero", Throws::Usage, "window_size is 0", [](Env&) { strata::Worker w({.chips = 2, .bringup = bringup2(0)}); }},
      {"BringupWindowMax", Throws::Usage, "larger than the largest window",
       [](Env&) { strata::Worker w({.chips = 2, .bringup = bringup2(kMax - 4096)}); }},
      {"BringupBufferOverflows", Throws::Usage, "buffer 'x' is larger than the address space",
       [](Env&) { strata::Worker w({.chips = 2, .bringup = bringup2(4096, {{"x", DType::F32, kMax / 4 + 1}})}); }},
      {"BringupBuffersDoNotFit", Throws::Usage, "buffer 'x' (8192 bytes at offset 0) overflows the window of 4096 bytes",
       [](Env&) { strata::Worker w({.chips = 2, .bringup = bringup2(4096, {{"x", DType::F64, 1024}})}); }},
      {"BringupBuffersDiffer", Throws::Usage, "window_size 8192 differs from chip 0's",
       [](Env&) {
         auto b = bringup2();
         b[1].window_size = 8192;
         strata::Worker w({.chips = 2, .bringup = b});
       }},
      {"BringupInputForUnknownBuffer", Throws::Usage, "input for unknown buffer 'y'",
       [](Env&) {
         auto b = bringup2();
         b[0].inputs["y"] = {1, 2};
         strata::Worker w({.chips = 2, .bringup = b});
       }},
      {"BringupInputTooLarge", Throws::Usage, "input for 'x' has 65 bytes",
       [](Env&) {
         auto b = bringup2();
         b[0].inputs["x"] = std::vector<unsigned char>(65);
         strata::Worker w({.chips = 2, .bringup = b});
       }},
      {"BringupDuplicateBufferName", Throws::Usage, "buffer name 'x' is used twice",
       [](Env&) { strata::Worker w({.chips = 2, .bringup = bringup2(4096, {{"x", DType::F32, 1}, {"x", DType::F32, 1}})}); }},
      {"BringupInvalidDtype", Throws::Usage, "invalid dtype",
       [](Env&) { strata::Worker w({.chips = 2, .bringup = bringup2(4096, {{"x", static_cast<DType>(99), 1}})}); }},
      {"BringupOnAPod", Throws::Usage, "bring-up configures chips",
       [](Env&) { strata::Worker w({.level = 4, .bringup = {strata::ChipBringup{.rank = 0, .window_size = 4096}}}); }},

      // ---- registration and life cycle ----
      {"UnknownKernelName", Throws::Usage, "no kernel named 'mt_nope'", [](Env& e) { (void)e.w->register_kernel("mt_nope"); }},
      {"NullKernelFunction", Throws::Usage, "null function", [](Env& e) { (void)e.w->register_kernel("mt_null", nullptr); }},
      {"KernelFunctionAfterInit", Throws::Usage, "after init()",
       [](Env& e) { (void)e.w->register_kernel("mt_plain", &mt_plain); }},
      {"HostAfterInit", Throws::Usage, "register_host('late') after init()",
       [](Env& e) { (void)e.w->register_host([](const strata::TaskContext&) {}, "late"); }},
      {"EmptyHostCallable", Throws::Usage, "empty callable",
       [](Env&) {
         strata::Worker w(chips(1));
         (void)w.register_host(strata::HostCallable{}, "empty");
       }},
      {"OrchOnLevelThree", Throws::Usage, "register_orch('o') on a level 3 Worker",
       [](Env& e) { (void)e.w->register_orch([](strata::Orchestrator&, const strata::TaskContext&) {}, "o"); }},
      {"AddWorkerOnLevelThree", Throws::Usage, "add_worker on a level 3 Worker", [](Env& e) { (void)e.w->add_worker(chips(1)); }},
      {"AddWorkerWrongLevel", Throws::Usage, "takes level 4 children, not level 6",
       [](Env&) {
         strata::Worker pod({.level = 5});
         (void)pod.add_worker({.level = 6});
       }},
      {"KernelOnAPod", Throws::Usage, "kernels run on chips",
       [](Env&) {
         strata::Worker pod({.level = 4});
         (void)pod.register_kernel("mt_fill");
       }},
      {"LoadKernelBadPath", Throws::Usage, "cannot load '/nonexistent/lib.so'",
       [](Env& e) { (void)e.w->load_kernel("/nonexistent/lib.so", "k"); }},
      {"LoadKernelMissingSymbol", Throws::Usage, "has no kernel 'mt_absent'",
       [](Env& e) { (void)e.w->load_kernel(STRATA_TEST_KERNEL_LIBRARY, "mt_absent"); }},
      {"InitTwice", Throws::Usage, "init() called twice", [](Env& e) { e.w->init(); }},
      {"PodInitWithoutWorkers", Throws::Usage, "add_worker() first",
       [](Env&) {
         strata::Worker pod({.level = 4});
         pod.init();
       }},
      {"RunBeforeInit", Throws::Usage, "before init()",
       [](Env&) {
         strata::Worker w(chips(1));
         w.run([](strata::Orchestrator&) {});
       }},
      {"RunAfterClose", Throws::Usage, "closed",
       [](Env&) {
         strata::Worker w(chips(1));
         w.close();
         w.run([](strata::Orchestrator&) {});
       }},
      {"CloseTwice", Throws::Usage, "close() called twice",
       [](Env&) {
         strata::Worker w(chips(1));
         w.close();
         w.close();
       }},
      {"CreateBufferAfterClose", Throws::Usage, "closed",
       [](Env&) {
         strata::Worker w(chips(1));
         w.close();
         (void)w.create_buffer<int>(4);
       }},
      {"ChipContextsBeforeInit", Throws::Usage, "before init()",
       [](Env&) {
         strata::Worker w({.chips = 2, .bringup = bringup2()});
         (void)w.chip_contexts();
       }},
      {"ChipContextsWithoutBringup", Throws::Usage, "no bring-up configuration", [](Env& e) { (void)e.w->chip_contexts(); }},
      {"RespawnBeforeInit", Throws::Usage, "respawn() before init()",
       [](Env&) {
         strata::Worker w(chips(1));
         w.respawn();
       }},
      {"RespawnInsideRun", Throws::Usage, "respawn() inside run()",
       [](Env& e) { e.run([&](strata::Orchestrator&) { e.w->respawn(); }); }},
      {"CancelRunOutsideRun", Throws::Usage, "cancel_run() outside run()",
       [](Env& e) { e.w->cancel_run("no run"); }},
      {"RunInsideRun", Throws::Usage, "run() inside run()",
       [](Env& e) { e.run([&](strata::Orchestrator&) { e.w->run([](strata::Orchestrator&) {}); }); }},
      {"CloseInsideRun", Throws::Usage, "close() inside run()",
       [](Env& e) { e.run([&](strata::Orchestrator&) { e.w->close(); }); }},
      {"RegisterKernelInsideRun", Throws::Usage, "inside run()",
       [](Env& e) { e.run([&](strata::Orchestrator&) { (void)e.w->register_kernel("mt_other"); }); }},
      {"LoadKernelInsideRun", Throws::Usage, "load_kernel inside run()",
       [](Env& e) { e.run([&](strata::Orchestrator&) { (void)e.w->load_kernel(STRATA_TEST_KERNEL_LIBRARY, "x"); }); }},

      // ---- buffers and tensors ----
      {"RawBufferSizeMax", Throws::Usage, "create_buffer(18446744073709551615 bytes)",
       [](Env& e) { (void)e.w->create_raw_buffer(kMax); }},
      {"FloatBufferCountOverflows", Throws::Usage, "does not fit in the address space",
       [](Env& e) { (void)e.w->create_buffer<float>(kMax / 4 + 2); }},
      {"DoubleBufferCountOverflows", Throws::Usage, "does not fit in the address space",
       [](Env& e) { (void)e.w->create_buffer<double>(kMax / 8 + 1); }},
      {"BufferLargerThanTheArena", Throws::Usage, "has no room", [](Env& e) { (void)e.w->create_raw_buffer(size_t{1} << 40); }},
      {"BufferTensorShapeTooLarge", Throws::Usage, "more elements than the buffer", [](Env& e) { (void)e.buf.tensor({8, 8}); }},
      {"TensorNineDims", Throws::Usage, "9 dimensions",
       [](Env& e) { (void)Tensor::make(e.buf.data(), {1, 1, 1, 1, 1, 1, 1, 1, 1}, DType::I64); }},
      {"TensorNegativeExtent", Throws::Usage, "negative extent -3", [](Env& e) { (void)Tensor::make(e.buf.data(), {-3}, DType::I64); }},
      {"TensorInvalidDtype", Throws::Usage, "invalid dtype",
       [](Env& e) { (void)Tensor::make(e.buf.data(), {4}, static_cast<DType>(77)); }},
      {"TensorShapeOverflows", Throws::Usage, "larger than the address space",
       [](Env& e) { (void)Tensor::make(e.buf.data(), {kBig, kBig}, DType::F32); }},
      {"TensorInt64MaxExtent", Throws::Usage, "larger than the address space",
       [](Env& e) { (void)Tensor::make(e.buf.data(), {INT64_MAX, 3}, DType::U8); }},

      // ---- submit ----
      {"DefaultKernelHandle", Throws::Usage, "was not registered",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(strata::Kernel{}, TaskArgs()); }); }},
      {"KernelHandleOutOfRange", Throws::Usage, "callable id 99",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(strata::Kernel{99}, TaskArgs()); }); }},
      {"ChipOutOfRange", Throws::Usage, "chip 2 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs(), {}, 2); }); }},
      {"ChipNegative", Throws::Usage, "chip -2 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs(), {}, -2); }); }},
      {"ChipIntMax", Throws::Usage, "chip 2147483647 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs(), {}, INT_MAX); }); }},
      {"SubOutOfRange", Throws::Usage, "sub 5 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit_host(e.host, TaskArgs(), {}, 5); }); }},
      {"DefaultHostHandle", Throws::Usage, "sub callable id (none)",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit_host(strata::HostFn{}, TaskArgs()); }); }},
      {"OrchFnOnLevelThree", Throws::Usage, "no child Workers",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(strata::OrchFn{0}, TaskArgs()); }); }},
      {"BlockDimZero", Throws::Usage, "block_dim is 0",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs(), {.block_dim = 0}, 0); }); }},
      {"TimeoutNegative", Throws::Usage, "timeout is negative",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs(), {.timeout = std::chrono::milliseconds(-1)}, 0); });
       }},
      {"TimeoutTooLarge", Throws::Usage, "too large to represent",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) { o.submit(e.fill, TaskArgs(), {.timeout = std::chrono::milliseconds::max()}, 0); });
       }},
      {"ArgumentsTooLargeForAFrame", Throws::Usage, "a mailbox frame holds 1024",
       [](Env& e) {
         TaskArgs a;
         for (int i = 0; i < 70; ++i) a.input(Tensor::of(e.buf.data(), 1));
         e.run([&](strata::Orchestrator& o) { o.submit(e.fill, a, {}, 0); });
       }},
      {"TooManyScalars", Throws::Usage, "200 scalars",
       [](Env& e) {
         TaskArgs a;
         for (int i = 0; i < 200; ++i) a.scalar(i);
         e.run([&](strata::Orchestrator& o) { o.submit(e.fill, a, {}, 0); });
       }},
      {"RawTensorNegativeExtent", Throws::Usage, "negative extent (-4)", [](Env& e) { submit_one(e, raw(e.buf.data(), {-4})); }},
      {"RawTensorNineDims", Throws::Usage, "9 dimensions",
       [](Env& e) { submit_one(e, raw(e.buf.data(), {1, 1, 1, 1, 1, 1, 1, 1, 1})); }},
      {"RawTensorNdim255", Throws::Usage, "255 dimensions",
       [](Env& e) {
         Tensor t = raw(e.buf.data(), {1});
         t.ndim = 255;
         submit_one(e, t);
       }},
      {"RawTensorInvalidDtype", Throws::Usage, "invalid dtype (200)",
       [](Env& e) { submit_one(e, raw(e.buf.data(), {4}, static_cast<DType>(200))); }},
      {"RawTensorInvalidTag", Throws::Usage, "invalid tag (9)", [](Env& e) { submit_one(e, raw(e.buf.data(), {4}), static_cast<Tag>(9)); }},
      {"OutputShapeOverflows", Throws::Usage, "larger than the address space",
       [](Env& e) { submit_one(e, raw(nullptr, {int64_t{1} << 32, int64_t{1} << 32}, DType::F32), Tag::Output); }},
      {"NullInput", Throws::Usage, "tensor 0 (INPUT, i64 [4]) has a null address",
       [](Env& e) { submit_one(e, raw(nullptr, {4}), Tag::Input); }},
      {"NullInOut", Throws::Usage, "(INOUT, i64 [4]) has a null address", [](Env& e) { submit_one(e, raw(nullptr, {4}), Tag::InOut); }},
      {"NullOutputExisting", Throws::Usage, "(OUTPUT_EXISTING, i64 [4]) has a null address",
       [](Env& e) { submit_one(e, raw(nullptr, {4}), Tag::OutputExisting); }},
      {"NullNoDep", Throws::Usage, "(NO_DEP, i64 [4]) has a null address", [](Env& e) { submit_one(e, raw(nullptr, {4}), Tag::NoDep); }},
      {"VectorMemory", Throws::Usage, "not in memory strata shares",
       [](Env& e) {
         std::vector<int64_t> v(1024);
         submit_one(e, Tensor::of(v.data(), 1024));
       }},
      {"StackMemory", Throws::Usage, "not in memory strata shares",
       [](Env& e) {
         int64_t local[8] = {};
         submit_one(e, Tensor::of(local, 8), Tag::Input);
       }},
      {"TensorPastTheEndOfItsBuffer", Throws::Usage, "runs past the end of its buffer",
       [](Env& e) { submit_one(e, Tensor::of(e.buf.data(), 1000)); }},
      {"TensorInAFreedBuffer", Throws::Usage, "not in memory strata shares",
       [](Env& e) {
         int64_t* p = nullptr;
         {
           auto tmp = e.w->create_buffer<int64_t>(64);
           p = tmp.data();
         }
         submit_one(e, Tensor::of(p, 64));
       }},
      {"GroupWithoutWorkers", Throws::Usage, "the group has no workers",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit_group(e.fill, {}, {}, {}); }); }},
      {"GroupArgsAndWorkersDisagree", Throws::Usage, "1 argument sets for 2 workers",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit_group(e.fill, {TaskArgs()}, {}, {0, 1}); }); }},
      {"GroupDuplicateWorker", Throws::Usage, "workers must be distinct",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit_group(e.fill, {TaskArgs(), TaskArgs()}, {}, {1, 1}); }); }},
      {"GroupWorkerOutOfRange", Throws::Usage, "chip 7 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { o.submit_group(e.fill, {TaskArgs(), TaskArgs()}, {}, {0, 7}); }); }},
      {"GroupAnyWorker", Throws::Usage, "workers must be distinct",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) { o.submit_group(e.fill, {TaskArgs(), TaskArgs()}, {}, {0, strata::kAnyWorker}); });
       }},
      {"SubmitAfterItsRun", Throws::Usage, "outside run()",
       [](Env& e) {
         std::optional<strata::Orchestrator> kept;  // a copy kept past its run
         e.run([&](strata::Orchestrator& o) { kept.emplace(o); });
         kept->submit(e.fill, TaskArgs(), {}, 0);
       }},
      {"AllocAfterItsRun", Throws::Usage, "alloc outside run()",
       [](Env& e) {
         std::optional<strata::Orchestrator> kept;  // a copy kept past its run
         e.run([&](strata::Orchestrator& o) { kept.emplace(o); });
         (void)kept->alloc({4}, DType::F32);
       }},
      {"AllocShapeOverflows", Throws::Usage, "larger than the address space",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.alloc({kBig, kBig}, DType::F32); }); }},
      {"AllocLargerThanTheHeap", Throws::Usage, "more than the whole run heap",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.alloc({int64_t{1} << 40}, DType::U8); }); }},
      {"AllocNegative", Throws::Usage, "negative extent", [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.alloc({-1}, DType::U8); }); }},
      {"ScopeClosedOutOfOrder", Throws::Usage, "closed out of order",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           strata::Scope outer = o.scope();
           strata::Scope inner = o.scope();
           outer.close();
         });
       }},

      // ---- domains ----
      {"DomainNoWorkers", Throws::Usage, "workers is empty", [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({})); }); }},
      {"DomainSixtyFiveMembers", Throws::Usage, "65 members; a domain has at most 64",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom(std::vector<int>(65, 0))); }); }},
      {"DomainChipOutOfRange", Throws::Usage, "chip 5 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 5})); }); }},
      {"DomainChipNegative", Throws::Usage, "chip -1 is out of range",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({-1})); }); }},
      {"DomainChipTwice", Throws::Usage, "chip 1 is listed twice",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({1, 1})); }); }},
      {"DomainWindowZero", Throws::Usage, "window_size is 0",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, 0)); }); }},
      {"DomainWindowSizeMax", Throws::Usage, "larger than the largest window",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, kMax - 4096)); }); }},
      {"DomainWindowPetabyte", Throws::Usage, "larger than the largest window",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, size_t{1} << 50)); }); }},
      {"DomainBufferCountOverflows", Throws::Usage, "buffer 'b' (4611686018427387904 x f32) is larger than the address space",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::F32, kMax / 4 + 1}})); });
       }},
      {"DomainBuffersDoNotFit", Throws::Usage, "buffer 'b' (8192 bytes at offset 0) overflows the window of 4096 bytes",
       [](Env& e) { e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::F64, 1024}})); }); }},
      {"DomainBufferNameTwice", Throws::Usage, "buffer name 'b' is used twice",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::U8, 1}, {"b", DType::U8, 1}})); });
       }},
      {"DomainBufferInvalidDtype", Throws::Usage, "buffer 'b' has an invalid dtype",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, 4096, {{"b", static_cast<DType>(50), 1}})); });
       }},
      {"DomainSixtyFiveBuffers", Throws::Usage, "65 buffers; at most 64",
       [](Env& e) {
         std::vector<strata::BufferSpec> b;
         for (int i = 0; i < 65; ++i) b.push_back({"b" + std::to_string(i), DType::U8, 1});
         e.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(dom({0, 1}, 1 << 20, b)); });
       }},
      {"DomainNameLive", Throws::Usage, "a domain named 'd' is live",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto a = o.allocate_domain(dom({0}));
           (void)o.allocate_domain(dom({1}));
         });
       }},
      {"DomainIndexNonMember", Throws::Usage, "chip 1 is not a member",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0}));
           (void)d[1];
         });
       }},
      {"DomainIndexAfterRelease", Throws::Usage, "was released",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}));
           d.release();
           (void)d[0];
         });
       }},
      {"DomainUnknownBufferName", Throws::Usage, "no buffer named 'zz'",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::U8, 8}}));
           (void)d[0].buffer("zz");
         });
       }},
      {"EmptyDomainHandle", Throws::Usage, "empty Domain handle",
       [](Env&) {
         strata::Domain d;
         (void)d.name();
       }},
      {"CopyToNullSource", Throws::Usage, "the host source is null",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::U8, 8}}));
           o.copy_to(d[0].buffer("b"), nullptr);
         });
       }},
      {"CopyFromNullDestination", Throws::Usage, "the host destination is null",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::U8, 8}}));
           o.copy_from(nullptr, d[0].buffer("b"));
         });
       }},
      {"CopyTooManyBytes", Throws::Usage, "9 bytes into buffer 'b' of 8 bytes",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::U8, 8}}));
           unsigned char host[16] = {};
           o.copy_to(d[0].buffer("b"), host, 9);
         });
       }},
      {"CopyOfAForeignBuffer", Throws::Usage, "is not in a live domain",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           unsigned char host[8] = {};
           o.copy_to(strata::DomainBuffer{"fake", e.buf.data(), DType::U8, 8}, host);
         });
       }},
      {"CopyOutsideRun", Throws::Usage, "copy_to outside run()",
       [](Env& e) {
         std::optional<strata::Orchestrator> kept;  // a copy kept past its run
         e.run([&](strata::Orchestrator& o) { kept.emplace(o); });
         unsigned char host[8] = {};
         kept->copy_to(strata::DomainBuffer{"fake", e.buf.data(), DType::U8, 8}, host);
       }},
      {"SubmitNamingAReleasedDomain", Throws::Usage, "which was released",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::I64, 8}}));
           const Tensor t = d[0].buffer("b");
           d.release();
           o.submit(e.fill, TaskArgs().output_existing(t).scalar(int64_t{1}), {}, 0);
         });
       }},
      {"AllocateDomainOutsideRun", Throws::Usage, "outside run()",
       [](Env& e) {
         std::optional<strata::Orchestrator> kept;  // a copy kept past its run
         e.run([&](strata::Orchestrator& o) { kept.emplace(o); });
         (void)kept->allocate_domain(dom({0}));
       }},
      {"TaskTouchingADomainWindowPastItsEnd", Throws::Usage, "runs past the end of the window of chip 0",
       [](Env& e) {
         e.run([&](strata::Orchestrator& o) {
           auto d = o.allocate_domain(dom({0, 1}, 4096, {{"b", DType::I64, 8}}));
           o.submit(e.fill, TaskArgs().output_existing(Tensor::of(static_cast<int64_t*>(d[0].buffer("b").data), 4096)).scalar(int64_t{1}), {}, 0);
         });
       }},
  };
  return all;
}

class MisuseTable : public strata::test::LeakCheckedTest, public ::testing::WithParamInterface<size_t> {};

template <class E>
bool check(const std::function<void()>& f, const Case& c) {
  auto e = strata::test::capture<E>(f, c.name);
  if (!e) return false;
  STRATA_EXPECT_CONTAINS(e->what(), c.needle);
  return true;
}

TEST_P(MisuseTable, IsRefusedNamingTheCulpritAndTheWorkerStaysUsable) {
  const Case& c = cases()[GetParam()];
  Env env;
  env.w = std::make_unique<strata::Worker>(strata::WorkerOptions{.chips = 2, .sub_workers = 1});
  env.fill = env.w->register_kernel("mt_fill");
  env.host = env.w->register_host([](const strata::TaskContext& ctx) { *ctx.data<int64_t>(0) += 1; }, "mt_host");
  env.w->init();
  env.buf = env.w->create_buffer<int64_t>(32);
  const std::function<void()> bad = [&] { c.bad(env); };
  switch (c.throws) {
    case Throws::Usage:
      check<strata::UsageError>(bad, c);
      break;
    case Throws::Timeout:
      check<strata::TimeoutError>(bad, c);
      break;
    case Throws::Error:
      check<strata::Error>(bad, c);
      break;
    case Throws::ChildDied:
      check<strata::ChildDiedError>(bad, c);
      break;
    case Throws::Task:
      check<strata::TaskError>(bad, c);
      break;
  }
  // The same Worker runs a good graph (chips and the sub) correctly.
  strata::test::zero(env.buf);
  env.run([&](strata::Orchestrator& o) {
    o.submit(env.fill, TaskArgs().output_existing(Tensor::of(env.buf.data(), 8)).scalar(int64_t{100}), {}, 0);
    o.submit(env.fill, TaskArgs().output_existing(Tensor::of(env.buf.data() + 8, 8)).scalar(int64_t{200}), {}, 1);
    o.submit_host(env.host, TaskArgs().inout(Tensor::of(env.buf.data() + 8, 1)));
  });
  EXPECT_EQ(env.buf[7], 107);
  EXPECT_EQ(env.buf[8], 201);
  env.w->close();
}

INSTANTIATE_TEST_SUITE_P(Cases, MisuseTable, ::testing::Range<size_t>(0, cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& i) { return std::string(cases()[i.param].name); });

TEST(MisuseTableSize, HoldsAtLeastAHundredAndTwentyCases) { EXPECT_GE(cases().size(), 120u); }

}  // namespace
