#ifndef RETRYHTTP_TESTS_TERMINAL_HPP
#define RETRYHTTP_TESTS_TERMINAL_HPP

// A child process whose standard output is a pseudo-terminal (as a person's shell gives it), or a pipe (as a
// script's `|` gives it): what vmm-ctl decides its default output format from. The pseudo-terminal is made
// here with forkpty (glibc), so no package (script, expect) is needed. Every wait is bounded; a child still
// running at the limit is killed.

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace it {

struct captured_run {
  std::optional<int> code;  ///< the exit code (128 + N for a signal N); empty when it had to be killed
  std::string out;          ///< what it wrote; for a terminal, stdout and stderr together, "\r\n" made "\n"
};

namespace detail {

// argv and envp, built before any fork: the child only calls execve.
struct exec_arrays {
  std::vector<std::string> storage_argv;
  std::vector<std::string> storage_env;
  std::vector<char*> argv;
  std::vector<char*> envp;

  exec_arrays(const std::string& program, const std::vector<std::string>& args,
              const std::vector<std::string>& env) {
    storage_argv.push_back(program);
    storage_argv.insert(storage_argv.end(), args.begin(), args.end());
    // The test's own variables first, so that they win over inherited ones of the same name.
    storage_env = env;
    for (char** e = environ; *e; ++e) storage_env.emplace_back(*e);
    for (auto& arg : storage_argv) argv.push_back(arg.data());
    argv.push_back(nullptr);
    for (auto& e : storage_env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

// Reads `fd` until its end (EOF, or EIO once a pseudo-terminal's other side is closed) or `until`.
inline std::string read_all(int fd, std::chrono::steady_clock::time_point until) {
  std::string out;
  char buffer[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd ready{fd, POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) break;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // 0: the end; EIO: the terminal's slave side is closed
  }
  return out;
}

inline std::optional<int> reap(pid_t pid, std::chrono::steady_clock::time_point until) {
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace detail

/// Runs `program` with a pseudo-terminal (120 columns) as its standard input, output and error.
inline captured_run run_on_terminal(const std::string& program, const std::vector<std::string>& args,
                                    const std::vector<std::string>& env = {},
                                    std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  detail::exec_arrays arrays(program, args, env);
  winsize size{};
  size.ws_row = 40;
  size.ws_col = 120;
  int terminal = -1;
  const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, &size);
  if (pid < 0) throw std::runtime_error("forkpty failed");
  if (pid == 0) {
    ::execve(arrays.argv[0], arrays.argv.data(), arrays.envp.data());
    ::_exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + limit;
  std::string raw = detail::read_all(terminal, until);
  ::close(terminal);
  captured_run run{detail::reap(pid, until), {}};
  for (const char c : raw)
    if (c != '\r') run.out += c;  // the terminal's line discipline writes "\n" as "\r\n"
  return run;
}

/// Runs `program` with a pipe as its standard output (stderr and stdin: /dev/null).
inline captured_run run_into_pipe(const std::string& program, const std::vector<std::string>& args,
                                  const std::vector<std::string>& env = {},
                                  std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  detail::exec_arrays arrays(program, args, env);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, arrays.argv[0], &actions, nullptr, arrays.argv.data(), arrays.envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("cannot start " + program);
  }
  const auto until = std::chrono::steady_clock::now() + limit;
  captured_run run;
  run.out = detail::read_all(fds[0], until);
  ::close(fds[0]);
  run.code = detail::reap(pid, until);
  return run;
}

}  // namespace it

#endif  // RETRYHTTP_TESTS_TERMINAL_HPP
