// Integration tests of communication domains allocated from the orchestration function (SPEC §4.1,
// seed 002): the seed's seven cases, per-chip contexts, name reuse and allocation ids, and every
// validation message. Lifetime, the transaction, copies and cycles are in domain_lifetime_test.cpp.
// Values are checked against expectations computed here, independently of the runtime.
#include "integration/domain_test_util.hpp"

namespace {

// ---- seed 002's cases ---------------------------------------------------------------------------------

TEST_F(DomainTest, AllocateReturnsDistinctPerChipContexts) {
  strata::Worker w({.chips = 4});
  Kernels k(w);
  w.init();
  const std::vector<int> members = {2, 0, 3, 1};  // rank r is members[r]
  constexpr size_t kWindow = 10000;               // not a page multiple
  std::vector<strata::Buffer<uint64_t>> info;
  for (int i = 0; i < 4; ++i) {
    info.push_back(w.create_buffer<uint64_t>(kInfoWords));
    zero(info.back());
  }
  std::vector<strata::ChipContext> ctxs(4);
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain(
        spec("tp", members, kWindow, {{"a", DType::F32, 1000}, {"b", DType::I32, 7}, {"c", DType::I64, 100}}));
    EXPECT_EQ(d.name(), "tp");
    EXPECT_GT(d.allocation_id(), 0u);
    EXPECT_EQ(d.workers(), members);
    EXPECT_EQ(d.size(), 4);
    EXPECT_FALSE(d.released());
    for (int chip = 0; chip < 4; ++chip) {
      ctxs[static_cast<size_t>(chip)] = d[chip];
      o.submit(k.info, TaskArgs().output_existing(info[static_cast<size_t>(chip)].tensor()).scalar(d[chip].device_ctx),
               {}, chip);
    }
    auto unknown = capture<strata::UsageError>([&] { (void)d[0].buffer("zz"); }, "buffer('zz')");
    ASSERT_TRUE(unknown);
    STRATA_EXPECT_CONTAINS(unknown->what(), "'zz'");
  });

  std::set<uint64_t> device_ctxs, bases;
  for (int chip = 0; chip < 4; ++chip) {
    const auto& c = ctxs[static_cast<size_t>(chip)];
    const int rank = static_cast<int>(std::find(members.begin(), members.end(), chip) - members.begin());
    SCOPED_TRACE("chip " + std::to_string(chip));
    EXPECT_EQ(c.domain, "tp");
    EXPECT_EQ(c.chip, chip);
    EXPECT_EQ(c.device_id, chip);
    EXPECT_EQ(c.rank, rank);
    EXPECT_EQ(c.size, 4);
    EXPECT_NE(c.device_ctx, 0u);
    EXPECT_NE(c.window_base, 0u);
    EXPECT_GE(c.window_size, kWindow);
    device_ctxs.insert(c.device_ctx);
    bases.insert(c.window_base);
    // Buffers carved in declaration order from offset 0, inside the window, not overlapping.
    ASSERT_EQ(c.buffers.size(), 3u);
    const char* names[] = {"a", "b", "c"};
    const DType dtypes[] = {DType::F32, DType::I32, DType::I64};
    const size_t counts[] = {1000, 7, 100};
    EXPECT_EQ(reinterpret_cast<uint64_t>(c.buffers[0].data), c.window_base);
    uint64_t prev_end = c.window_base;
    for (size_t b = 0; b < 3; ++b) {
      const strata::DomainBuffer& buf = c.buffers[b];
      EXPECT_EQ(buf.name, names[b]);
      EXPECT_EQ(buf.dtype, dtypes[b]);
      EXPECT_EQ(buf.count, counts[b]);
      const auto p = reinterpret_cast<uint64_t>(buf.data);
      EXPECT_GE(p, prev_end) << "buffer " << buf.name;
      prev_end = p + buf.nbytes();
      EXPECT_LE(prev_end, c.window_base + c.window_size) << "buffer " << buf.name;
      EXPECT_EQ(c.buffer_ptrs().at(buf.name), p);
      EXPECT_EQ(c.buffer(buf.name).data, buf.data);
      const Tensor t = c.buffer(buf.name);
      EXPECT_EQ(t.data, buf.data);
      EXPECT_EQ(t.numel(), counts[b]);
      EXPECT_EQ(t.dtype, dtypes[b]);
    }
    // What the chip sees in its CommContext agrees with the host's view.
    const auto& got = info[static_cast<size_t>(chip)];
    EXPECT_EQ(got[0], static_cast<uint64_t>(rank));
    EXPECT_EQ(got[1], 4u);
    EXPECT_EQ(got[2], c.window_size);
    EXPECT_EQ(got[3], c.window_base + c.window_size) << "workspace follows the window";
    EXPECT_EQ(got[4], static_cast<uint64_t>(STRATA_COMM_SIGNAL_BYTES));
    EXPECT_EQ(got[5], c.window_base);
    for (int r = 0; r < 4; ++r) EXPECT_NE(got[8 + static_cast<size_t>(r)], 0u) << "windows[" << r << "]";
  }
  EXPECT_EQ(device_ctxs.size(), 4u) << "device_ctx must differ per chip";
  EXPECT_EQ(bases.size(), 4u) << "window_base must differ per chip";
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = i + 1; j < 4; ++j)
      EXPECT_FALSE(overlaps(window_of(ctxs[i]), window_of(ctxs[j]))) << "windows of chips " << i << " and " << j;
  w.close();
}

TEST_F(DomainTest, ReleaseByScopeExitAndByMoveAssignment) {
  strata::Worker w({.chips = 2});
  w.init();
  w.run([&](strata::Orchestrator& o) {
    uint64_t first = 0;
    {
      auto d = o.allocate_domain(spec("scoped", {0, 1}));
      first = d.allocation_id();
      EXPECT_FALSE(d.released());
    }  // released here
    // The name is free again (it would be rejected as live otherwise).
    auto again = o.allocate_domain(spec("scoped", {0, 1}));
    EXPECT_GT(again.allocation_id(), first);

    // Assigning over a live handle releases the domain it held.
    strata::Domain h = o.allocate_domain(spec("moved", {0}));
    h = o.allocate_domain(spec("moved2", {1}));
    EXPECT_EQ(h.name(), "moved2");
    auto reuse = o.allocate_domain(spec("moved", {0}));
    EXPECT_FALSE(reuse.released());

    // A moved-from handle holds nothing; moving does not release.
    strata::Domain taken = std::move(reuse);
    EXPECT_FALSE(taken.released());
    EXPECT_TRUE(reuse.released());  // NOLINT(bugprone-use-after-move): an empty handle reports released
    auto dup = capture<strata::UsageError>([&] { o.allocate_domain(spec("moved", {1})); }, "'moved' after a move");
    EXPECT_TRUE(dup) << "moving a handle must not release its domain";

    // Explicit release is idempotent.
    taken.release();
    taken.release();
    EXPECT_TRUE(taken.released());
  });
  strata::Domain empty;
  EXPECT_TRUE(empty.released());
  auto e = capture<strata::UsageError>([&] { (void)empty.name(); }, "name() of an empty handle");
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "empty");
  w.close();
}

TEST_F(DomainTest, NameReuseAfterReleaseTakesNewIncreasingIds) {
  strata::Worker w({.chips = 3});
  Kernels k(w);
  w.init();
  auto out = w.create_buffer<int64_t>(kSlots * 3);
  std::vector<uint64_t> ids;
  for (int run = 0; run < 3; ++run) {
    w.run([&](strata::Orchestrator& o) {
      for (int i = 0; i < 4; ++i) {
        auto d = o.allocate_domain(spec("again", {i % 3, (i + 1) % 3}));
        ids.push_back(d.allocation_id());
        d.release();
      }
      // The last reuse of the name is a working domain with fresh (zeroed) windows.
      zero(out);
      auto d = o.allocate_domain(spec("again", {2, 0, 1}));
      ids.push_back(d.allocation_id());
      submit_exchange(o, k, d, 10 * run);
      for (int chip = 0; chip < 3; ++chip) submit_collect(o, k, d, chip, out, kSlots * static_cast<size_t>(chip));
    });
    for (size_t chip = 0; chip < 3; ++chip)
      expect_exchanged(out, kSlots * chip, 3, 10 * run, "run " + std::to_string(run) + " chip " + std::to_string(chip));
  }
  ASSERT_EQ(ids.size(), 15u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]) << "allocation " << i;
  w.close();
}

TEST_F(DomainTest, DuplicateLiveNameIsRejected) {
  strata::Worker w({.chips = 3});
  Kernels k(w);
  w.init();
  auto out = w.create_buffer<int64_t>(kSlots * 2);
  zero(out);
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain(spec("dup", {0, 1}));
    const std::string id = std::to_string(d.allocation_id());
    auto e = capture<strata::UsageError>([&] { o.allocate_domain(spec("dup", {2})); }, "a second live 'dup'");
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "'dup'");
    STRATA_EXPECT_CONTAINS(e->what(), "live");
    STRATA_EXPECT_CONTAINS(e->what(), id);  // names the live allocation
    // The live domain is untouched and works; another name is fine.
    EXPECT_FALSE(d.released());
    auto other = o.allocate_domain(spec("dup2", {2}));
    submit_exchange(o, k, d, 500);
    for (int chip = 0; chip < 2; ++chip) submit_collect(o, k, d, chip, out, kSlots * static_cast<size_t>(chip));
  });
  for (size_t chip = 0; chip < 2; ++chip) expect_exchanged(out, kSlots * chip, 2, 500, "chip " + std::to_string(chip));
  w.close();
}

TEST_F(DomainTest, OrchestrationFunctionThrowingWithDomainsLiveSweepsThem) {
  strata::Worker w({.chips = 3});
  Kernels k(w);
  w.init();
  auto out = w.create_buffer<int64_t>(kSlots * 2);
  zero(out);
  const size_t big = big_window();
  strata::Domain a, b;
  uint64_t last_id = 0;
  auto err = capture<std::runtime_error>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          a = o.allocate_domain(spec("a", {0, 1}, big));
          b = o.allocate_domain(spec("b", {2, 1}));
          auto c = o.allocate_domain(spec("c", {2}, big));
          c.release();
          last_id = c.allocation_id();
          // Submitted before the throw: it runs to its end before anything is freed.
          submit_exchange(o, k, a, 70);
          for (int chip = 0; chip < 2; ++chip) submit_collect(o, k, a, chip, out, kSlots * static_cast<size_t>(chip));
          throw std::runtime_error("orchestration failed on purpose");
        });
      },
      "run() whose orchestration function throws");
  ASSERT_TRUE(err);
  EXPECT_STREQ(err->what(), "orchestration failed on purpose") << "run() must rethrow the function's own exception";
  for (size_t chip = 0; chip < 2; ++chip) expect_exchanged(out, kSlots * chip, 2, 70, "chip " + std::to_string(chip));
  // Swept: the handles report released, indexing them throws.
  EXPECT_TRUE(a.released());
  EXPECT_TRUE(b.released());
  for (strata::Domain* d : {&a, &b}) {
    auto idx = capture<strata::UsageError>([&] { (void)(*d)[1]; }, "indexing a swept domain");
    ASSERT_TRUE(idx);
    STRATA_EXPECT_CONTAINS(idx->what(), "released");
  }
  // The names are free and the memory was given back: windows of most of a chip's device memory fit again
  // on the same chips.
  w.run([&](strata::Orchestrator& o) {
    auto a2 = o.allocate_domain(spec("a", {0, 1}, big));
    auto b2 = o.allocate_domain(spec("b", {2, 1}));
    auto c2 = o.allocate_domain(spec("c", {2}, big));
    EXPECT_GT(a2.allocation_id(), last_id);
    EXPECT_GT(b2.allocation_id(), last_id);
    EXPECT_GT(c2.allocation_id(), last_id);
  });
  w.close();
}

TEST_F(DomainTest, TwoDisjointDomainsOnFourChips) {
  strata::Worker w({.chips = 4});
  Kernels k(w);
  w.init();
  auto out = w.create_buffer<int64_t>(kSlots * 4);
  zero(out);
  std::vector<strata::ChipContext> ctxs;
  w.run([&](strata::Orchestrator& o) {
    auto left = o.allocate_domain(spec("left", {0, 1}));
    auto right = o.allocate_domain(spec("right", {3, 2}));
    EXPECT_EQ(right[3].rank, 0);
    EXPECT_EQ(right[2].rank, 1);
    auto nm = capture<strata::UsageError>([&] { (void)left[2]; }, "left[2]");
    ASSERT_TRUE(nm);
    STRATA_EXPECT_CONTAINS(nm->what(), "chip 2");
    submit_exchange(o, k, left, 1000);
    submit_exchange(o, k, right, 2000);
    for (int chip = 0; chip < 4; ++chip)
      submit_collect(o, k, chip < 2 ? left : right, chip, out, kSlots * static_cast<size_t>(chip));
    for (int chip : {0, 1}) ctxs.push_back(left[chip]);
    for (int chip : {3, 2}) ctxs.push_back(right[chip]);
  });
  for (size_t chip = 0; chip < 4; ++chip)
    expect_exchanged(out, kSlots * chip, 2, chip < 2 ? 1000 : 2000, "chip " + std::to_string(chip));
  for (size_t i = 0; i < ctxs.size(); ++i)
    for (size_t j = i + 1; j < ctxs.size(); ++j) EXPECT_FALSE(overlaps(window_of(ctxs[i]), window_of(ctxs[j])));
  w.close();
}

TEST_F(DomainTest, TwoOverlappingDomainsGiveTheSharedChipTwoWindowsAndTwoRanks) {
  strata::Worker w({.chips = 3});
  Kernels k(w);
  w.init();
  auto out = w.create_buffer<int64_t>(kSlots * 4);
  auto info_left = w.create_buffer<uint64_t>(kInfoWords);
  auto info_right = w.create_buffer<uint64_t>(kInfoWords);
  zero(out);
  zero(info_left);
  zero(info_right);
  strata::ChipContext l1, r1;
  w.run([&](strata::Orchestrator& o) {
    auto left = o.allocate_domain(spec("left", {0, 1}));
    auto right = o.allocate_domain(spec("right", {1, 2}));
    l1 = left[1];
    r1 = right[1];
    // Both exchanges at once: chip 1 takes part in both.
    submit_exchange(o, k, left, 100);
    submit_exchange(o, k, right, 300);
    submit_collect(o, k, left, 0, out, 0);
    submit_collect(o, k, left, 1, out, kSlots);
    submit_collect(o, k, right, 1, out, 2 * kSlots);
    submit_collect(o, k, right, 2, out, 3 * kSlots);
    o.submit(k.info, TaskArgs().output_existing(info_left.tensor()).scalar(left[1].device_ctx), {}, 1);
    o.submit(k.info, TaskArgs().output_existing(info_right.tensor()).scalar(right[1].device_ctx), {}, 1);
  });
  EXPECT_EQ(l1.rank, 1);
  EXPECT_EQ(r1.rank, 0);
  EXPECT_NE(l1.device_ctx, r1.device_ctx);
  EXPECT_NE(l1.window_base, r1.window_base);
  EXPECT_FALSE(overlaps(window_of(l1), window_of(r1))) << "chip 1's two windows overlap";
  expect_exchanged(out, 0, 2, 100, "left, chip 0");
  expect_exchanged(out, kSlots, 2, 100, "left, chip 1");
  expect_exchanged(out, 2 * kSlots, 2, 300, "right, chip 1");
  expect_exchanged(out, 3 * kSlots, 2, 300, "right, chip 2");
  EXPECT_EQ(info_left[0], 1u);
  EXPECT_EQ(info_left[1], 2u);
  EXPECT_EQ(info_left[5], l1.window_base);
  EXPECT_EQ(info_right[0], 0u);
  EXPECT_EQ(info_right[1], 2u);
  EXPECT_EQ(info_right[5], r1.window_base);
  w.close();
}

// ---- validation ---------------------------------------------------------------------------------------

TEST_F(DomainTest, EveryValidationHasItsOwnMessageAndAsksNoChip) {
  strata::Worker w({.chips = 3});
  Kernels k(w);
  w.init();
  struct Case {
    const char* what;
    strata::DomainSpec spec;
    std::vector<std::string> needles;
  };
  std::vector<int> too_many(65);
  for (int i = 0; i < 65; ++i) too_many[static_cast<size_t>(i)] = i;
  std::vector<strata::BufferSpec> many_buffers;
  for (int i = 0; i < 200; ++i) many_buffers.push_back({"b" + std::to_string(i), DType::U8, 1});
  std::vector<Case> cases = {
      {"empty workers", spec("v_empty", {}), {"workers is empty"}},
      {"duplicate worker", spec("v_dup", {0, 2, 0}), {"chip 0", "twice"}},
      {"worker out of range", spec("v_range", {0, 3}), {"chip 3", "out of range", "3 chips"}},
      {"negative worker", spec("v_neg", {-1}), {"chip -1", "out of range"}},
      {"window_size 0", spec("v_zero", {0}, 0), {"window_size is 0"}},
      {"duplicate buffer names",
       spec("v_names", {0}, 4096, {{"a", DType::F32, 4}, {"a", DType::I32, 4}}),
       {"'a'", "twice"}},
      {"buffer larger than the window",
       spec("v_fit", {0}, 300, {{"big", DType::F32, 100}}),
       {"buffer 'big' (400 bytes at offset 0) overflows the window of 300 bytes"}},
      {"buffers that fit one by one but not together",
       spec("v_fit2", {0, 1}, 400, {{"x", DType::F32, 50}, {"y", DType::F32, 50}}),
       {"buffer 'y' (200 bytes at offset 256) overflows the window of 400 bytes"}},
      {"more than 64 members", spec("v_many", too_many), {"65 members", "64"}},
      {"too many buffers", spec("v_bufs", {0}, 1 << 20, many_buffers), {"200 buffers"}},
  };
  w.run([&](strata::Orchestrator& o) {
    for (const Case& c : cases) {
      auto e = capture<strata::UsageError>([&] { o.allocate_domain(c.spec); }, c.what);
      if (!e) continue;
      SCOPED_TRACE(c.what);
      STRATA_EXPECT_CONTAINS(e->what(), "allocate_domain('" + c.spec.name + "')");
      for (const std::string& n : c.needles) STRATA_EXPECT_CONTAINS(e->what(), n);
    }
  });
  // Validation happens in the parent before any chip is asked: not even the communicator came up.
  EXPECT_EQ(w.comm_bringups(), 0);

  // A live name, and nothing above consumed a name: every one can now be allocated.
  auto out = w.create_buffer<int64_t>(kSlots * 3);
  zero(out);
  w.run([&](strata::Orchestrator& o) {
    auto live = o.allocate_domain(spec("v_live", {0, 1}));
    auto e = capture<strata::UsageError>([&] { o.allocate_domain(spec("v_live", {1, 2})); }, "name already live");
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "allocate_domain('v_live')");
    STRATA_EXPECT_CONTAINS(e->what(), "'v_live' is live");
    for (const Case& c : cases) (void)o.allocate_domain(spec(c.spec.name, {0}));  // released at once
    auto d = o.allocate_domain(spec("v_range", {0, 1, 2}));
    submit_exchange(o, k, d, 5);
    for (int chip = 0; chip < 3; ++chip) submit_collect(o, k, d, chip, out, kSlots * static_cast<size_t>(chip));
  });
  for (size_t chip = 0; chip < 3; ++chip) expect_exchanged(out, kSlots * chip, 3, 5, "chip " + std::to_string(chip));
  w.close();
}

// allocate_domain's "worker not started" check cannot be reached from the public API: an Orchestrator
// exists only inside run(), and run() before init() is itself an error. What can be reached: run()
// before init(), and an Orchestrator used after its run returned.
TEST_F(DomainTest, AllocateSubmitAndCopyOutsideRunAreRejected) {
  strata::Worker w({.chips = 2});
  Kernels k(w);
  auto before = capture<strata::UsageError>([&] { w.run([](strata::Orchestrator&) {}); }, "run() before init()");
  ASSERT_TRUE(before);
  STRATA_EXPECT_CONTAINS(before->what(), "init");
  w.init();
  std::optional<strata::Orchestrator> kept;
  strata::Domain live;
  std::optional<strata::DomainBuffer> buf;
  w.run([&](strata::Orchestrator& o) {
    kept.emplace(o);
    live = o.allocate_domain(spec("outside", {0, 1}));
    buf = live[1].buffer("slots");
  });
  ASSERT_FALSE(live.released()) << "a domain whose handle outlives a successful run stays live";
  auto alloc = capture<strata::UsageError>([&] { kept->allocate_domain(spec("late", {0})); }, "allocate after run");
  ASSERT_TRUE(alloc);
  STRATA_EXPECT_CONTAINS(alloc->what(), "allocate_domain('late')");
  STRATA_EXPECT_CONTAINS(alloc->what(), "outside run()");
  auto sub = capture<strata::UsageError>(
      [&] { kept->submit(k.fill, TaskArgs().output_existing(buf->tensor()).scalar(int64_t{1}), {}, 1); },
      "submit after run");
  ASSERT_TRUE(sub);
  STRATA_EXPECT_CONTAINS(sub->what(), "outside run()");
  int64_t host[kSlots] = {};
  auto to = capture<strata::UsageError>([&] { kept->copy_to(*buf, host); }, "copy_to after run");
  ASSERT_TRUE(to);
  STRATA_EXPECT_CONTAINS(to->what(), "copy_to");
  STRATA_EXPECT_CONTAINS(to->what(), "outside run()");
  auto from = capture<strata::UsageError>([&] { kept->copy_from(host, *buf); }, "copy_from after run");
  ASSERT_TRUE(from);
  STRATA_EXPECT_CONTAINS(from->what(), "copy_from");
  // The stale Orchestrator stays stale during a later run; the live domain is still usable there.
  w.run([&](strata::Orchestrator& o) {
    auto stale = capture<strata::UsageError>([&] { kept->allocate_domain(spec("late", {0})); }, "stale allocate");
    EXPECT_TRUE(stale);
    o.submit(k.fill, TaskArgs().output_existing(live[1].buffer("slots")).scalar(int64_t{40}), {}, 1);
    o.copy_from(host, live[1].buffer("slots"));
  });
  for (size_t i = 0; i < kSlots; ++i) ASSERT_EQ(host[i], 40 + static_cast<int64_t>(i)) << i;
  // Released outside a run: freed at once, the name is free in the next run.
  live.release();
  w.run([&](strata::Orchestrator& o) { (void)o.allocate_domain(spec("outside", {0, 1})); });
  w.close();
}

TEST_F(DomainTest, LevelFourWorkerHasNoChipsButItsNodesAllocate) {
  STRATA_SKIP_UNDER_TSAN();  // the node forks its chips from a forked process
  strata::Worker pod({.level = 4});
  strata::Worker& node = pod.add_worker({.chips = 2});
  Kernels k(node);
  // Runs in the node process: a domain over the node's chips, an exchange, and a copy out to the pod.
  auto fn = pod.register_orch(
      [k](strata::Orchestrator& o, const strata::TaskContext& c) {
        auto d = o.allocate_domain(spec("node_tp", {1, 0}));
        submit_exchange(o, k, d, 900);
        auto* y = c.data<int64_t>(0);
        for (int chip = 0; chip < 2; ++chip)
          o.copy_from(y + kSlots * static_cast<size_t>(chip), d[chip].buffer("slots"));
      },
      "dt_node_fn");
  pod.init();
  auto y = pod.create_buffer<int64_t>(kSlots * 2);
  zero(y);
  auto e = capture<strata::UsageError>(
      [&] { pod.run([&](strata::Orchestrator& o) { o.allocate_domain(spec("pod_tp", {0})); }); },
      "allocate_domain on a level 4 Worker");
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "allocate_domain('pod_tp')");
  STRATA_EXPECT_CONTAINS(e->what(), "level 4");
  pod.run([&](strata::Orchestrator& o) { o.submit(fn, TaskArgs().output_existing(y.tensor()), {}, 0); });
  expect_exchanged(y, 0, 2, 900, "node chip 0");
  expect_exchanged(y, kSlots, 2, 900, "node chip 1");
  pod.close();
}

TEST_F(DomainTest, IndexingANonMemberOrAReleasedDomainThrows) {
  strata::Worker w({.chips = 3});
  w.init();
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain(spec("idx", {0, 2}));
    for (int bad : {1, -1, 3, 100}) {
      auto e = capture<strata::UsageError>([&] { (void)d[bad]; }, "indexing a non-member");
      ASSERT_TRUE(e);
      STRATA_EXPECT_CONTAINS(e->what(), "'idx'");
      STRATA_EXPECT_CONTAINS(e->what(), "chip " + std::to_string(bad) + " is not a member");
      STRATA_EXPECT_CONTAINS(e->what(), "0, 2");
    }
    const uint64_t id = d.allocation_id();
    d.release();
    EXPECT_TRUE(d.released());
    for (int chip : {0, 2}) {
      auto e = capture<strata::UsageError>([&] { (void)d[chip]; }, "indexing a released domain");
      ASSERT_TRUE(e);
      STRATA_EXPECT_CONTAINS(e->what(), "'idx'");
      STRATA_EXPECT_CONTAINS(e->what(), "released");
      STRATA_EXPECT_CONTAINS(e->what(), std::to_string(id));
    }
    EXPECT_EQ(d.name(), "idx");  // the handle still says what it was
    EXPECT_EQ(d.workers(), (std::vector<int>{0, 2}));
  });
  w.close();
}

}  // namespace

TEST_F(DomainTest, LiveDomainsListsTheLiveOnesAndAFailedRunSweepsThem) {
  strata::Worker w({.chips = 3});
  Kernels k(w);
  EXPECT_TRUE(w.live_domains().empty()) << "before init()";
  w.init();
  EXPECT_TRUE(w.live_domains().empty());
  strata::Domain a, b;
  w.run([&](strata::Orchestrator& o) {
    a = o.allocate_domain(spec("a", {0, 1}));
    b = o.allocate_domain(spec("b", {2, 1}));
    auto c = o.allocate_domain(spec("c", {2}));
    c.release();  // released: no longer live, even though it is freed only after the drain
    const std::vector<strata::LiveDomain> live = w.live_domains();
    ASSERT_EQ(live.size(), 2u);
    EXPECT_EQ(live[0].name, "a");
    EXPECT_EQ(live[0].allocation_id, a.allocation_id());
    EXPECT_EQ(live[0].workers, (std::vector<int>{0, 1}));
    EXPECT_EQ(live[1].name, "b");
    EXPECT_EQ(live[1].allocation_id, b.allocation_id());
    EXPECT_EQ(live[1].workers, (std::vector<int>{2, 1}));
  });
  ASSERT_EQ(w.live_domains().size(), 2u) << "handles kept past the run stay live";
  b.release();
  ASSERT_EQ(w.live_domains().size(), 1u);
  EXPECT_EQ(w.live_domains()[0].name, "a");

  // A run that fails sweeps every live domain, those of earlier runs too.
  strata::Domain d;
  auto e = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          d = o.allocate_domain(spec("d", {0, 2}));
          EXPECT_EQ(w.live_domains().size(), 2u);
          o.submit(k.fail, TaskArgs().scalar(int64_t{7}), {}, 1);
        });
      },
      "a run whose task fails");
  ASSERT_TRUE(e);
  EXPECT_TRUE(w.live_domains().empty()) << "the failed run must have swept 'a' and 'd'";
  EXPECT_TRUE(a.released());
  EXPECT_TRUE(d.released());
  w.close();
  EXPECT_TRUE(w.live_domains().empty()) << "after close()";
}

TEST_F(DomainTest, AContextBufferIsATaskTensorAndACopyTarget) {
  strata::Worker w({.chips = 2});
  Kernels k(w);
  w.init();
  auto out = w.create_buffer<int64_t>(kSlots);
  zero(out);
  std::vector<int64_t> back(kSlots, 0);
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain(spec("t", {1, 0}));
    const strata::ChipContext& c = d[0];
    EXPECT_EQ(c.domain, "t");
    EXPECT_EQ(c.chip, 0);
    EXPECT_EQ(c.rank, 1);
    EXPECT_EQ(c.size, 2);
    const strata::DomainBuffer& slots = c.buffer("slots");
    EXPECT_EQ(slots.chip, 0);
    EXPECT_EQ(reinterpret_cast<uint64_t>(slots.data), c.window_base);
    // The buffer itself is the task's tensor, then the source of a copy.
    o.submit(k.fill, TaskArgs().output_existing(c.buffer("slots")).scalar(int64_t{40}), {}, 0);
    o.submit(k.collect, TaskArgs().input(c.buffer("slots")).output_existing(out.tensor()), {}, 0);
    o.copy_from(back.data(), c.buffer("slots"));
    auto unknown = capture<strata::UsageError>([&] { (void)c.buffer("nope"); }, "an unknown buffer name");
    ASSERT_TRUE(unknown);
    STRATA_EXPECT_CONTAINS(unknown->what(), "domain 't' has no buffer named 'nope' on chip 0 (buffers: 'slots')");
  });
  for (size_t i = 0; i < kSlots; ++i) {
    EXPECT_EQ(out[i], 40 + static_cast<int64_t>(i)) << i;
    EXPECT_EQ(back[i], 40 + static_cast<int64_t>(i)) << i;
  }
  w.close();
}
