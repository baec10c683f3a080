// Unit tests of util/log: what an unknown STRATA_LOG value does.
//
// The settings are read once per process, so each case runs in a forked child that sets the variable
// before anything has logged, with its stderr on a pipe the test reads back.
#include "util/log.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "ipc/process.hpp"
#include "support/leak_check.hpp"
#include "unit/child_helpers.hpp"

namespace strata::log {
namespace {

class LogTest : public test::LeakCheckedTest {};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Runs `body` in a child with STRATA_LOG=`value`; returns what it wrote on stderr.
std::string stderr_of_child(const char* value, const std::function<void()>& body) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  test::Child c = test::fork_child([&] {
    setenv("STRATA_LOG", value, 1);
    dup2(fds[1], STDERR_FILENO);
    body();
    return 0;
  });
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  EXPECT_EQ(test::reap_child(&c, 10000), 0);
  return out;
}

// Regression: an unknown STRATA_LOG value was ignored without a word.
TEST_F(LogTest, UnknownLevelWarnsOnceNamingTheAcceptedValues) {
  const std::string err = stderr_of_child("loud", [] {
    STRATA_LOG_WARN("test", "first line");
    // A child process inherits the settings: it reports nothing again.
    ipc::ChildProcess grandchild = ipc::ChildProcess::spawn([] {
      STRATA_LOG_WARN("test", "line from the grandchild");
      return 0;
    });
    grandchild.reap(10000);
    STRATA_LOG_INFO("test", "not shown: the level stays warn");
  });
  EXPECT_EQ(count(err, "STRATA_LOG=loud"), 1u) << err;
  EXPECT_NE(err.find("expected one of error, warn, info, debug, trace"), std::string::npos) << err;
  EXPECT_NE(err.find("first line"), std::string::npos) << err;
  EXPECT_NE(err.find("line from the grandchild"), std::string::npos) << err;
  EXPECT_EQ(err.find("not shown"), std::string::npos) << err;
}

TEST_F(LogTest, KnownLevelIsQuiet) {
  const std::string err = stderr_of_child("info", [] { STRATA_LOG_INFO("test", "an info line"); });
  EXPECT_EQ(err.find("STRATA_LOG="), std::string::npos) << err;
  EXPECT_NE(err.find("an info line"), std::string::npos) << err;
}

}  // namespace
}  // namespace strata::log
