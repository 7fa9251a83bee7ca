#ifndef RETRYHTTP_DETAIL_OPERATION_MEMORY_HPP
#define RETRYHTTP_DETAIL_OPERATION_MEMORY_HPP

// Memory for asynchronous operations: the state of a call and of an attempt, and the operations a transport
// starts for an attempt (Beast's write and read, Asio's socket operations and timers).
//
// Asio's own recycling allocator keeps two blocks per thread, of at most 1,020 bytes each. An asynchronous
// call nests handlers (the caller's, the retry driver's, the transport's, Beast's), so its socket operations
// are larger than that, and with many calls in flight the two blocks are always taken: each operation went
// to malloc. This cache keeps up to 64 blocks per size class (256 bytes to 4 KiB) per thread, so that a
// steady stream of calls allocates nothing. A block freed on another thread goes to that thread's cache.
//
// When the caller's handler has an allocator of its own (not std::allocator), operations use it instead:
// operation_allocator_for picks.

#include <boost/asio/associated_allocator.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace retryhttp::detail {

class block_cache {
 public:
  static void* allocate(std::size_t size) {
    const std::size_t c = size_class(size);
    if (c < classes) {
      if (cache* local = this_thread()) {
        list& free = local->lists[c];
        if (free.head != nullptr) {
          node* block = free.head;
          free.head = block->next;
          --free.count;
          return block;
        }
      }
      return ::operator new(block_size(c));
    }
    return ::operator new(size);
  }

  static void deallocate(void* pointer, std::size_t size) noexcept {
    const std::size_t c = size_class(size);
    if (c < classes) {
      if (cache* local = this_thread(); local != nullptr && local->lists[c].count < blocks_per_class) {
        list& free = local->lists[c];
        free.head = ::new (pointer) node{free.head};
        ++free.count;
        return;
      }
      return release(pointer, block_size(c));
    }
    release(pointer, size);
  }

 private:
  // Sized deallocation when the compiler has it: clang 14 leaves it off unless -fsized-deallocation is given.
  static void release(void* pointer, [[maybe_unused]] std::size_t size) noexcept {
#if defined(__cpp_sized_deallocation)
    ::operator delete(pointer, size);
#else
    ::operator delete(pointer);
#endif
  }

  static constexpr std::size_t classes = 5;  // 256, 512, 1,024, 2,048 and 4,096 bytes
  static constexpr std::size_t blocks_per_class = 64;

  static constexpr std::size_t block_size(std::size_t c) noexcept {
    return std::size_t{256} << c;
  }
  static constexpr std::size_t size_class(std::size_t size) noexcept {
    std::size_t c = 0;
    while (c < classes && block_size(c) < size) ++c;
    return c;
  }

  struct node {
    node* next;
  };
  struct list {
    node* head = nullptr;
    std::size_t count = 0;
  };
  struct cache {
    list lists[classes];
    ~cache() {
      for (std::size_t c = 0; c < classes; ++c) {
        while (node* block = lists[c].head) {
          lists[c].head = block->next;
          release(block, block_size(c));
        }
      }
      gone() = true;
    }
  };

  // Null once the thread's cache is destroyed (a block freed later, from another thread-local's destructor,
  // goes straight back to operator delete).
  static cache* this_thread() noexcept {
    if (gone()) return nullptr;
    thread_local cache local;
    return &local;
  }
  static bool& gone() noexcept {
    thread_local bool destroyed = false;
    return destroyed;
  }
};

/// An Allocator over block_cache.
template <class T>
struct cached_allocator {
  using value_type = T;
  cached_allocator() noexcept = default;
  template <class U>
  cached_allocator(const cached_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned operation state");
    return static_cast<T*>(block_cache::allocate(n * sizeof(T)));
  }
  void deallocate(T* pointer, std::size_t n) noexcept { block_cache::deallocate(pointer, n * sizeof(T)); }

  template <class U>
  bool operator==(const cached_allocator<U>&) const noexcept {
    return true;
  }
};

/// The allocator an operation started for `handler` uses: the handler's own, or the cache when the handler
/// has none (std::allocator).
template <class Handler>
auto operation_allocator_for(const Handler& handler) {
  auto allocator = boost::asio::get_associated_allocator(handler);
  if constexpr (std::is_same_v<decltype(allocator), std::allocator<void>>)
    return cached_allocator<void>();
  else
    return allocator;
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_OPERATION_MEMORY_HPP
