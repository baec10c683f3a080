// bench/collectives/collectives.cpp — see collectives.hpp.
#include "collectives.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.hpp"
#include "strata/comm_kernel.hpp"
#include "strata/half.hpp"
#include "strata/strata.hpp"

namespace {

using strata::DType;
using strata::ReduceOp;
using strata::bench::quantile;
using strata::bench::time_run;

enum class Kind { Allreduce, ReduceScatter, Allgather, Broadcast, Alltoall };

struct Options {
  int chips = 2;
  int64_t bytes = 1 << 20;
  int reps = 20;
  int inner = 10;
  int blocks = 1;
  DType dtype = DType::F32;
  ReduceOp op = ReduceOp::Sum;
  bool progress = false;
};

const std::vector<std::string> kDTypeNames = {"f32", "f16", "bf16", "i32", "i64"};
const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64};
const std::vector<std::string> kOpNames = {"sum", "max", "min", "avg"};

/// Each collective: its name on the command line, and the Orchestrator call it times.
struct KindName {
  Kind kind;
  const char* name;
  const char* call;
};
constexpr KindName kKinds[] = {{Kind::Allreduce, "allreduce", "allreduce"},
                               {Kind::ReduceScatter, "reducescatter", "reduce_scatter"},
                               {Kind::Allgather, "allgather", "allgather"},
                               {Kind::Broadcast, "broadcast", "broadcast"},
                               {Kind::Alltoall, "alltoall", "alltoall"}};

const char* kind_title(Kind kind) {
  for (const KindName& k : kKinds)
    if (k.kind == kind) return k.call;
  return "?";
}

bool reduces(Kind kind) { return kind == Kind::Allreduce || kind == Kind::ReduceScatter; }

/// busbw / algbw (nccl-tests): what each byte of B costs the busiest link.
double bus_factor(Kind kind, int n) {
  if (kind == Kind::Allreduce) return 2.0 * (n - 1) / n;
  if (kind == Kind::Broadcast) return 1.0;
  return static_cast<double>(n - 1) / n;
}

const char* bus_formula(Kind kind) {
  return kind == Kind::Allreduce ? "2(N-1)/N" : kind == Kind::Broadcast ? "1" : "(N-1)/N";
}

int parse(Kind kind, int argc, char** argv, Options* o) {
  const std::string about =
      std::string("Times the Orchestrator's ") + kind_title(kind) +
      " over a domain of N simulated chips and prints one JSON object (nccl-tests convention, B the whole "
      "buffer: algbw = B / time, busbw = algbw * " +
      bus_formula(kind) +
      "):\n"
      "  time_us_median         one call: a run() of K back-to-back calls / K (median of R)\n"
      "  algbw_GBps busbw_GBps  from time_us_median (GB = 1e9 bytes); elements_per_s = count / time\n"
      "  correct                the first call's result matched a reference computed here";
  CLI::App app{about, strata::bench::bench_name(argc, argv, "bench_collectives")};
  app.add_option("--chips", o->chips, "chips, all in the domain")->check(CLI::Range(1, 64))->capture_default_str();
  strata::cli::size_option(app, "--bytes", o->bytes,
                           std::string("bytes of the buffer (every rank's ") +
                               (kind == Kind::ReduceScatter ? "input"
                                : kind == Kind::Allgather   ? "result"
                                : kind == Kind::Alltoall    ? "send and receive buffer"
                                                            : "buffer") +
                               ")",
                           8, int64_t{512} << 20);
  std::string dtype = "f32", op = "sum";
  app.add_option("--dtype", dtype, "element type")->check(CLI::IsMember(kDTypeNames))->capture_default_str();
  if (reduces(kind)) app.add_option("--op", op, "reduction")->check(CLI::IsMember(kOpNames))->capture_default_str();
  app.add_option("--reps", o->reps, "samples")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--inner", o->inner, "calls per timed run")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--blocks", o->blocks, "block_dim of each call")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_flag("--progress", o->progress, "progress lines on stderr even when it is not a terminal");
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  for (size_t i = 0; i < kDTypeNames.size(); ++i)
    if (kDTypeNames[i] == dtype) o->dtype = kDTypes[i];
  for (size_t i = 0; i < kOpNames.size(); ++i)
    if (kOpNames[i] == op) o->op = static_cast<ReduceOp>(i);
  if (o->bytes % static_cast<int64_t>(strata::dtype_size(o->dtype)) != 0) {
    std::fprintf(stderr, "%s: --bytes must be a multiple of the element size of %s, got %lld\n", argv[0],
                 strata::dtype_name(o->dtype), static_cast<long long>(o->bytes));
    return strata::cli::kUsageExit;
  }
  if (kind == Kind::Alltoall && (o->bytes / static_cast<int64_t>(strata::dtype_size(o->dtype))) % o->chips != 0) {
    std::fprintf(stderr,
                 "%s: alltoall sends one equal chunk to each chip: --bytes / element size must be a multiple "
                 "of --chips (%d), got %lld bytes\n",
                 argv[0], o->chips, static_cast<long long>(o->bytes));
    return strata::cli::kUsageExit;
  }
  return -1;
}

double input_value(size_t i, int rank) {
  return static_cast<double>(static_cast<int>((i * 31 + static_cast<size_t>(rank) * 7) % 61) - 30);
}

void store(std::vector<unsigned char>& buf, DType dt, size_t i, double v) {
  unsigned char* p = buf.data();
  switch (dt) {
    case DType::F32:
      reinterpret_cast<float*>(p)[i] = static_cast<float>(v);
      break;
    case DType::F16:
      reinterpret_cast<uint16_t*>(p)[i] = strata::f16_from_float(static_cast<float>(v));
      break;
    case DType::BF16:
      reinterpret_cast<uint16_t*>(p)[i] = strata::bf16_from_float(static_cast<float>(v));
      break;
    case DType::I32:
      reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(v);
      break;
    default:
      reinterpret_cast<int64_t*>(p)[i] = static_cast<int64_t>(v);
      break;
  }
}

double load(const std::vector<unsigned char>& buf, DType dt, size_t i) {
  const unsigned char* p = buf.data();
  switch (dt) {
    case DType::F32:
      return reinterpret_cast<const float*>(p)[i];
    case DType::F16:
      return strata::float_from_f16(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::BF16:
      return strata::float_from_bf16(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::I32:
      return reinterpret_cast<const int32_t*>(p)[i];
    default:
      return static_cast<double>(reinterpret_cast<const int64_t*>(p)[i]);
  }
}

double reduced(size_t i, int n, ReduceOp op, DType dt) {
  double acc = input_value(i, 0);
  for (int r = 1; r < n; ++r) {
    const double x = input_value(i, r);
    acc = op == ReduceOp::Max ? std::max(acc, x) : op == ReduceOp::Min ? std::min(acc, x) : acc + x;
  }
  if (op != ReduceOp::Avg) return acc;
  return dt == DType::I32 || dt == DType::I64 ? std::trunc(acc / n) : acc / n;
}

bool close_enough(double got, double want, DType dt) {
  const double rel = dt == DType::BF16 ? std::ldexp(1.0, -8) : dt == DType::F16 ? std::ldexp(1.0, -11) : 1e-6;
  return std::fabs(got - want) <= rel * std::fabs(want);
}

}  // namespace

int bench_collective_main(const char* kind_name, int argc, char** argv) {
  const std::string_view kn = kind_name;
  const KindName* found = nullptr;
  for (const KindName& k : kKinds)
    if (kn == k.name) found = &k;
  if (found == nullptr) {
    std::fprintf(stderr,
                 "bench_collectives: unknown collective '%s' (allreduce, reducescatter, allgather, broadcast, "
                 "alltoall)\n",
                 kind_name);
    return strata::cli::kUsageExit;
  }
  const Kind kind = found->kind;
  Options opt;
  if (int rc = parse(kind, argc, argv, &opt); rc >= 0) return rc;
  const char* prog = argc > 0 ? argv[0] : "bench_collectives";
  return strata::bench::run_or_report(prog, [&] {
    const int n = opt.chips;
    const DType dt = opt.dtype;
    const size_t es = strata::dtype_size(dt), bytes = static_cast<size_t>(opt.bytes), count = bytes / es;
    const size_t part_max = strata::collective_part(count, static_cast<uint32_t>(n), 0).count;
    // "b": a rank's part of reduce-scatter's result, or alltoall's receive buffer.
    const size_t b_count = kind == Kind::Alltoall ? count : part_max;
    strata::ProgressLine progress(opt.progress);
    strata::Worker w({.chips = n, .on_progress = progress.for_runs(kind_name)});
    w.init();
    const std::vector<int> members = strata::bench::all_chips(n);
    strata::Domain dom;
    w.run([&](strata::Orchestrator& o) {
      dom = o.allocate_domain({.name = "bench",
                               .workers = members,
                               .window_size = (bytes + 63) / 64 * 64 + (b_count * es + 63) / 64 * 64,
                               .buffers = {{"a", dt, count}, {"b", dt, b_count}}});
    });
    const strata::CallConfig cfg{.block_dim = static_cast<uint32_t>(opt.blocks)};
    const auto call = [&](strata::Orchestrator& o) {
      if (kind == Kind::Allreduce)
        o.allreduce(dom, "a", opt.op, cfg);
      else if (kind == Kind::ReduceScatter)
        o.reduce_scatter(dom, "a", "b", opt.op, cfg);
      else if (kind == Kind::Allgather)
        o.allgather(dom, "a", cfg);
      else if (kind == Kind::Broadcast)
        o.broadcast(dom, "a", members[0], cfg);
      else
        o.alltoall(dom, "a", "b", cfg);
    };

    // Load, one call, check.
    std::vector<unsigned char> buf(bytes);
    w.run([&](strata::Orchestrator& o) {
      for (int r = 0; r < n; ++r) {
        for (size_t i = 0; i < count; ++i) store(buf, dt, i, input_value(i, r));
        o.copy_to(dom[r].buffer("a"), buf.data());
      }
    });
    w.run(call);
    bool correct = true;
    std::string first_error;
    w.run([&](strata::Orchestrator& o) {
      for (int r = 0; r < n && correct; ++r) {
        const strata::CollectivePart part =
            strata::collective_part(count, static_cast<uint32_t>(n), static_cast<uint32_t>(r));
        if (kind == Kind::ReduceScatter) {
          o.copy_from(buf.data(), dom[r].buffer("b"), part.count * es);
        } else {
          o.copy_from(buf.data(), dom[r].buffer(kind == Kind::Alltoall ? "b" : "a"));
        }
        const size_t chunk = count / static_cast<size_t>(n);
        for (size_t j = 0; j < (kind == Kind::ReduceScatter ? part.count : count) && correct; ++j) {
          double want;
          if (kind == Kind::Allreduce)
            want = reduced(j, n, opt.op, dt);
          else if (kind == Kind::ReduceScatter)
            want = reduced(part.begin + j, n, opt.op, dt);
          else if (kind == Kind::Broadcast)
            want = input_value(j, 0);  // chip 0 is the root
          else if (kind == Kind::Alltoall)
            // chunk p of this rank's receive buffer is chunk r of rank p's send buffer
            want = input_value(static_cast<size_t>(r) * chunk + j % chunk, static_cast<int>(j / chunk));
          else {
            int owner = 0;
            while (strata::collective_part(count, static_cast<uint32_t>(n), static_cast<uint32_t>(owner)).begin +
                       strata::collective_part(count, static_cast<uint32_t>(n), static_cast<uint32_t>(owner)).count <=
                   j)
              ++owner;
            want = input_value(j, owner);
          }
          const double got = load(buf, dt, j);
          if (!close_enough(got, want, dt)) {
            correct = false;
            first_error = "chip " + std::to_string(r) + " element " + std::to_string(j) + " is " + std::to_string(got) +
                          ", expected " + std::to_string(want);
          }
        }
      }
    });

    const auto inner_run = [&](strata::Orchestrator& o) {
      for (int k = 0; k < opt.inner; ++k) call(o);
    };
    w.run(inner_run);  // warm-up
    std::vector<double> samples;
    for (int r = 0; r < opt.reps; ++r) {
      progress.update(kind_name, static_cast<uint64_t>(r), static_cast<uint64_t>(opt.reps), "repetitions");
      samples.push_back(time_run(w, inner_run) / opt.inner);
    }
    dom.release();
    w.close();
    progress.finish();

    const double t = quantile(samples, 0.5), t_min = quantile(samples, 0.0), b = static_cast<double>(bytes);
    const double factor = bus_factor(kind, n);
    strata::cli::print_json({{"bench", kind_name},
                             {"version", strata::version()},
                             {"chips", n},
                             {"bytes", bytes},
                             {"count", count},
                             {"dtype", strata::dtype_name(dt)},
                             {"op", reduces(kind) ? strata::reduce_op_name(opt.op) : "none"},
                             {"blocks", opt.blocks},
                             {"reps", opt.reps},
                             {"inner", opt.inner},
                             {"time_us_median", t * 1e6},
                             {"time_us_min", t_min * 1e6},
                             {"algbw_GBps", b / t / 1e9},
                             {"busbw_GBps", factor * b / t / 1e9},
                             {"busbw_GBps_max", factor * b / t_min / 1e9},
                             {"elements_per_s", static_cast<double>(count) / t},
                             {"correct", correct}});
    if (!correct) {
      std::fprintf(stderr, "%s: wrong result: %s\n", prog, first_error.c_str());
      return 1;
    }
    return 0;
  });
}
