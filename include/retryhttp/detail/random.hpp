#ifndef RETRYHTTP_DETAIL_RANDOM_HPP
#define RETRYHTTP_DETAIL_RANDOM_HPP

// A small, fast, seedable generator for jitter, and the per-policy source of per-call seeds.
// Jitter needs neither cryptographic strength nor a long period; it needs to be cheap (a delay in a few ns),
// 8 bytes of state (a schedule lives on the caller's stack), and reproducible from a seed.

#include <atomic>
#include <chrono>
#include <cstdint>

// The seed of an unseeded policy comes from the kernel (getrandom), not std::random_device: <random> is
// 8,000 lines that every translation unit with a client would parse for one call.
#if defined(__linux__) && __has_include(<sys/random.h>)  // elsewhere it may lack getrandom
#include <sys/random.h>
#define RETRYHTTP_DETAIL_HAS_GETRANDOM 1
#else
#include <random>
#endif

namespace retryhttp::detail {

/// SplitMix64 (Steele, Lea, Flood 2014): one add and three multiply-xorshifts per draw.
class splitmix64 {
 public:
  constexpr explicit splitmix64(std::uint64_t seed) noexcept : state_(seed) {}

  constexpr std::uint64_t operator()() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, bound), unbiased (Lemire 2019, "Fast Random Integer Generation in an Interval").
  /// bound == 0 gives 0: an empty range is not an error for jitter, it means "no jitter".
  constexpr std::uint64_t below(std::uint64_t bound) noexcept {
    if (bound == 0) return 0;
    __extension__ using u128 = unsigned __int128;
    u128 product = static_cast<u128>((*this)()) * bound;
    auto low = static_cast<std::uint64_t>(product);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<u128>((*this)()) * bound;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }

  /// Uniform in [low, high] (inclusive); high < low gives low.
  constexpr std::uint64_t between(std::uint64_t low, std::uint64_t high) noexcept {
    if (high <= low) return low;
    const std::uint64_t span = high - low;
    return span == UINT64_MAX ? (*this)() : low + below(span + 1);
  }

 private:
  std::uint64_t state_;
};

/// Hands out one seed per call. An explicitly seeded source is a reproducible prototype: it and its copies
/// give the same sequence of per-call seeds. A source seeded from the kernel re-seeds when copied, so
/// that clients built from one default policy do not back off in lockstep (as google-cloud-cpp keeps its
/// generator out of copies). The counter is atomic: a policy shared by threads gives each call its own
/// stream.
class seed_source {
 public:
  seed_source() : seed_(fresh_seed()), reproducible_(false) {}
  explicit seed_source(std::uint64_t seed) noexcept : seed_(seed), reproducible_(true) {}

  seed_source(const seed_source& other)
      : seed_(other.reproducible_ ? other.seed_ : fresh_seed()),
        calls_(other.reproducible_ ? other.calls_.load(std::memory_order_relaxed) : 0),
        reproducible_(other.reproducible_) {}
  seed_source& operator=(const seed_source& other) {
    if (this != &other) {
      seed_ = other.reproducible_ ? other.seed_ : fresh_seed();
      calls_.store(other.reproducible_ ? other.calls_.load(std::memory_order_relaxed) : 0,
                   std::memory_order_relaxed);
      reproducible_ = other.reproducible_;
    }
    return *this;
  }

  /// The seed of the next call: the policy seed mixed with the call's index, so neighbouring calls and
  /// neighbouring seeds give unrelated streams.
  std::uint64_t next_call_seed() const noexcept {
    const std::uint64_t call = calls_.fetch_add(1, std::memory_order_relaxed);
    splitmix64 mixer(seed_ ^ (call * 0xd1342543de82ef95ULL));
    return mixer();
  }

  std::uint64_t seed() const noexcept { return seed_; }
  bool reproducible() const noexcept { return reproducible_; }

 private:
  static std::uint64_t fresh_seed() {
#ifdef RETRYHTTP_DETAIL_HAS_GETRANDOM
    std::uint64_t seed = 0;
    if (::getrandom(&seed, sizeof seed, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof seed)) return seed;
    // No entropy yet (early boot) or no getrandom: jitter needs seeds that differ between clients and
    // processes, not secrecy. The time, this object's stack address and a counter, mixed.
    static std::atomic<std::uint64_t> fallbacks{0};
    const auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    splitmix64 mixer(now ^ (reinterpret_cast<std::uintptr_t>(&seed) << 16)
                     ^ fallbacks.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ULL);
    return mixer();
#else
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
#endif
  }

  std::uint64_t seed_;
  mutable std::atomic<std::uint64_t> calls_{0};
  bool reproducible_;
};

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_RANDOM_HPP
