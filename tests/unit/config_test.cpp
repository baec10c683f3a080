// Unit tests of util/config: the table of tunables, their defaults, and environment overrides.
//
// Values are read from the environment once per process, so overrides are observed in a fresh process:
// this binary re-executes itself with STRATA_UNIT_CONFIG_PROBE=<tunable> (and the tunable's variable set),
// and in that mode prints the effective value and exits before any test runs (see `probe` below).
#include "util/config.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/leak_check.hpp"
#include "unit/child_helpers.hpp"

namespace strata::config {
namespace {

constexpr const char* kProbeVar = "STRATA_UNIT_CONFIG_PROBE";
// If set in probe mode: after the first read, the tunable's variable is changed to this value and the
// tunable read again.
constexpr const char* kProbeResetVar = "STRATA_UNIT_CONFIG_PROBE_RESET";

const Tunable* find_tunable(const std::string& name) {
  for (const Tunable& t : all())
    if (name == t.name) return &t;
  return nullptr;
}

// Probe mode, run during static initialisation of the re-executed binary: prints "<value>\n" (and a
// second line after the reset) on stdout, then _exit(0). Exit 2: unknown tunable.
[[maybe_unused]] const bool probe = [] {
  const char* name = std::getenv(kProbeVar);
  if (name == nullptr) return false;
  const Tunable* t = find_tunable(name);
  if (t == nullptr) _exit(2);
  std::string out = effective(*t) + "\n";
  if (const char* reset = std::getenv(kProbeResetVar)) {
    setenv(t->env, reset, 1);
    out += effective(*t) + "\n";
  }
  ssize_t ignored = write(STDOUT_FILENO, out.data(), out.size());
  (void)ignored;
  _exit(0);
}();

// Runs this binary in probe mode for `name` with `env` added to the environment; returns its output
// lines, or nullopt (with a test failure) if it did not exit cleanly in time.
std::optional<std::vector<std::string>> run_probe(const std::string& name,
                                                  const std::map<std::string, std::string>& env) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return std::nullopt;
  }
  test::Child child = test::fork_child([&] {
    dup2(fds[1], STDOUT_FILENO);
    setenv(kProbeVar, name.c_str(), 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execl("/proc/self/exe", "config_test_probe", static_cast<char*>(nullptr));
    return 97;  // exec failed
  });
  close(fds[1]);
  std::string out;
  if (child.pid > 0) {
    char buf[256];
    pollfd p{fds[0], POLLIN, 0};
    while (poll(&p, 1, 20'000) == 1) {
      const ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  bool timed_out = false;
  const int status = test::reap_child(&child, 20'000, &timed_out);
  if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "probe of " << name << " " << test::describe_status(status) << (timed_out ? " (timed out)" : "");
    return std::nullopt;
  }
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(out.substr(start, nl - start));
  return lines;
}

bool numeric(const Tunable& t) { return t.type != Type::String; }

TEST(Config, TableIsWellFormed) {
  ASSERT_FALSE(all().empty());
  std::set<std::string> names, envs;
  for (const Tunable& t : all()) {
    ASSERT_NE(t.name, nullptr);
    ASSERT_NE(t.env, nullptr);
    ASSERT_NE(t.fallback, nullptr);
    ASSERT_NE(t.doc, nullptr);
    EXPECT_TRUE(names.insert(t.name).second) << "duplicate tunable name " << t.name;
    EXPECT_TRUE(envs.insert(t.env).second) << "duplicate environment variable " << t.env;
    EXPECT_EQ(std::string(t.env).rfind("STRATA_", 0), 0u) << t.env << " does not start with STRATA_";
    EXPECT_GT(std::strlen(t.name), 0u);
    EXPECT_GT(std::strlen(t.doc), 0u) << t.name << " has no documentation";
    for (const char* c = t.name; *c; ++c)
      EXPECT_TRUE(std::islower(static_cast<unsigned char>(*c)) || std::isdigit(static_cast<unsigned char>(*c)) ||
                  *c == '_')
          << "tunable name " << t.name << " is not snake_case";
  }
}

TEST(Config, StableOrder) {
  const auto a = all();
  const auto b = all();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_STREQ(a[i].name, b[i].name);
}

TEST(Config, EveryEffectiveValueIsNonEmpty) {
  for (const Tunable& t : all()) EXPECT_FALSE(effective(t).empty()) << t.name;
}

TEST(Config, NumericDefaultsParse) {
  // Without its variable set, a numeric tunable is its default, and effective() prints that number.
  for (const Tunable& t : all()) {
    if (!numeric(t) || std::getenv(t.env) != nullptr) continue;
    char* end = nullptr;
    const unsigned long long want = std::strtoull(t.fallback, &end, 0);
    ASSERT_EQ(*end, '\0') << t.name << " default '" << t.fallback << "' is not a plain number";
    EXPECT_EQ(get_u64(t.name), want) << t.name;
    EXPECT_EQ(effective(t), std::to_string(want)) << t.name;
  }
}

TEST(Config, StringDefaults) {
  for (const Tunable& t : all()) {
    if (numeric(t) || std::getenv(t.env) != nullptr) continue;
    EXPECT_EQ(get_string(t.name), t.fallback) << t.name;
    EXPECT_EQ(effective(t), t.fallback) << t.name;
  }
}

TEST(Config, VariablesNamedByOtherHeadersAreDeclared) {
  // util/log.hpp and util/sys.hpp document these variables; each must be in the one table.
  std::set<std::string> envs;
  for (const Tunable& t : all()) envs.insert(t.env);
  for (const char* env : {"STRATA_LOG", "STRATA_LOG_SUBSYS", "STRATA_SPIN_US"}) EXPECT_EQ(envs.count(env), 1u) << env;
}

TEST(ConfigDeathTest, UnknownNameAborts) {
  EXPECT_DEATH(get_u64("no_such_tunable"), "");
  EXPECT_DEATH(get_string("no_such_tunable"), "");
}

// ---- Environment overrides, each in a fresh process -----------------------------------------------------

using ConfigEnv = test::LeakCheckedTest;

const Tunable* first_of(bool want_numeric) {
  for (const Tunable& t : all())
    if (numeric(t) == want_numeric) return &t;
  return nullptr;
}

TEST_F(ConfigEnv, ProbeSeesTheDefault) {
  const Tunable* t = first_of(true);
  ASSERT_NE(t, nullptr);
  auto lines = run_probe(t->name, {});
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 1u);
  if (std::getenv(t->env) == nullptr) {
    EXPECT_EQ((*lines)[0], effective(*t));
  }
}

TEST_F(ConfigEnv, NumericOverride) {
  for (const Tunable& t : all()) {
    if (!numeric(t)) continue;
    auto lines = run_probe(t.name, {{t.env, "123"}});
    ASSERT_TRUE(lines) << t.name;
    ASSERT_EQ(lines->size(), 1u) << t.name;
    EXPECT_EQ((*lines)[0], "123") << t.name;
  }
}

TEST_F(ConfigEnv, InvalidNumberFallsBackToTheDefault) {
  const Tunable* t = first_of(true);
  ASSERT_NE(t, nullptr);
  for (const char* bad : {"abc", "12x", "-5", ""}) {
    auto lines = run_probe(t->name, {{t->env, bad}, {"STRATA_LOG", "error"}});
    ASSERT_TRUE(lines) << bad;
    ASSERT_EQ(lines->size(), 1u) << bad;
    char* end = nullptr;
    EXPECT_EQ((*lines)[0], std::to_string(std::strtoull(t->fallback, &end, 0))) << t->env << "=" << bad;
  }
}

TEST_F(ConfigEnv, StringOverride) {
  const Tunable* t = first_of(false);
  ASSERT_NE(t, nullptr);
  auto lines = run_probe(t->name, {{t->env, "custom-value"}});
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0], "custom-value");
}

TEST_F(ConfigEnv, ValueIsFixedAfterTheFirstRead) {
  // config.hpp: "read from the environment once per process ... and never change afterwards".
  const Tunable* num = first_of(true);
  const Tunable* str = first_of(false);
  ASSERT_NE(num, nullptr);
  ASSERT_NE(str, nullptr);
  {
    auto lines = run_probe(num->name, {{num->env, "77"}, {kProbeResetVar, "78"}});
    ASSERT_TRUE(lines);
    ASSERT_EQ(lines->size(), 2u);
    EXPECT_EQ((*lines)[0], "77");
    EXPECT_EQ((*lines)[1], "77") << num->env << " changed after it was first read";
  }
  {
    auto lines = run_probe(str->name, {{str->env, "first"}, {kProbeResetVar, "second"}});
    ASSERT_TRUE(lines);
    ASSERT_EQ(lines->size(), 2u);
    EXPECT_EQ((*lines)[0], "first");
    EXPECT_EQ((*lines)[1], "first") << str->env << " changed after it was first read";
  }
}

}  // namespace
}  // namespace strata::config
