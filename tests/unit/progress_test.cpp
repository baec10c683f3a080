// Unit tests of strata::ProgressLine: silent when stderr is not a terminal unless asked, the format of a
// line, the rate limit, and the quiet start.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <strata/progress.hpp>
#include <string>

namespace {

TEST(ProgressLine, SilentOnAPipeUnlessAsked) {
  if (isatty(STDERR_FILENO)) GTEST_SKIP() << "stderr is a terminal here";
  testing::internal::CaptureStderr();
  {
    strata::ProgressLine line(false, std::chrono::milliseconds(0));
    EXPECT_FALSE(line.enabled());
    EXPECT_FALSE(line.for_runs("run")) << "a disabled line must not cost the Worker a callback";
    line.update("phase", 1, 2);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ProgressLine, PrintsPhaseDoneTotalAndElapsedThenRateLimits) {
  if (isatty(STDERR_FILENO)) GTEST_SKIP() << "stderr is a terminal here";
  testing::internal::CaptureStderr();
  {
    strata::ProgressLine line(true, std::chrono::milliseconds(0));
    EXPECT_TRUE(line.enabled());
    line.update("load", 5, 10);
    line.update("load", 6, 10);  // within the same second: not printed
    auto cb = line.for_runs("run");
    ASSERT_TRUE(cb);
  }
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.rfind("strata: [load] 5 / 10 tasks, ", 0), 0u) << out;
  EXPECT_EQ(out.find("6 / 10"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

TEST(ProgressLine, QuietDuringTheFirstSeconds) {
  testing::internal::CaptureStderr();
  {
    strata::ProgressLine line(true, std::chrono::hours(1));
    line.update("phase", 1, 0, "runs");
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

}  // namespace
