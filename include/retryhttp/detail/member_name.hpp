#ifndef RETRYHTTP_DETAIL_MEMBER_NAME_HPP
#define RETRYHTTP_DETAIL_MEMBER_NAME_HPP

// Whether a class has a member of a given name at all, whatever it is (a function of any signature, an
// overload set, a template, a data member). The policies' optional members (an Observer's hooks, an
// Idempotency policy's key_for) are found by a requires-expression on their use, which skips a member of the
// right name and the wrong signature in silence; with this, the client turns that case into a compile error.
//
// In a class derived from T and from one holding a member of that name, the name is found twice, so naming it
// is ambiguous. A final class cannot be derived from; for it, a member is found by taking its address, which
// misses an overload set or a template. A misspelled name cannot be told from a member for the class's own
// use: C++ has no way to detect it.

#include <type_traits>

namespace retryhttp::detail {

template <class T, class Name>
struct member_name_probe : T, Name {};

}  // namespace retryhttp::detail

/// Defines, in the enclosing namespace, detail-style `member##_name` (a class with that member) and
/// `consteval bool names_##member<T>()`.
#define RETRYHTTP_DETAIL_MEMBER_NAME_PROBE(member)                         \
  struct member##_name {                                                   \
    int member;                                                            \
  };                                                                       \
  template <class T>                                                       \
  consteval bool names_##member() {                                        \
    if constexpr (!std::is_class_v<T>)                                     \
      return false;                                                        \
    else if constexpr (std::is_final_v<T>)                                 \
      return requires {                                                    \
        &T::member;                                                        \
      };                                                                   \
    else                                                                   \
      return !requires {                                                   \
        &::retryhttp::detail::member_name_probe<T, member##_name>::member; \
      };                                                                   \
  }

#endif  // RETRYHTTP_DETAIL_MEMBER_NAME_HPP
