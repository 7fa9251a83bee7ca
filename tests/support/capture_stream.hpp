#ifndef RETRYHTTP_TESTS_CAPTURE_STREAM_HPP
#define RETRYHTTP_TESTS_CAPTURE_STREAM_HPP

// What a documented example prints, for the tests that compare it: the stream's output goes to a string while
// a capture lives, and back to where it went before when it ends.

#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>

namespace retryhttp_tests {

class capture {
 public:
  explicit capture(std::ostream& stream) : stream_(stream), original_(stream.rdbuf(captured_.rdbuf())) {}
  ~capture() { stream_.rdbuf(original_); }
  capture(const capture&) = delete;
  capture& operator=(const capture&) = delete;
  std::string text() const { return captured_.str(); }

 private:
  std::ostream& stream_;
  std::ostringstream captured_;
  std::streambuf* original_;
};

}  // namespace retryhttp_tests

#endif  // RETRYHTTP_TESTS_CAPTURE_STREAM_HPP
