// pcstore.hpp: header-only C++17 RAII wrapper over pcstore.h.
//
// Error model: no exceptions needed (engines often build with -fno-exceptions). Fallible
// calls return `pcstore::status` (a code plus the library's detail message) or
// `pcstore::result<T>` (a T or a status, like C++23 std::expected). `result::value()` on an
// error throws `pcstore::error` when exceptions are enabled and calls std::abort() otherwise;
// check `ok()` / `operator bool` first to avoid both.
//
// Ownership: `store` and `blob` are reference-counted handles: copying retains, destruction
// releases, moving transfers. Both are thread-safe to share; `hasher` is move-only and
// single-threaded. A `blob` is a read-only span-like view (data/size/begin/end) of a stored
// blob that stays valid while the `blob` object lives, whatever the store evicts.
#ifndef PCSTORE_HPP
#define PCSTORE_HPP

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#include <stdexcept>
#define PCSTORE_HPP_EXCEPTIONS 1
#endif

#include "pcstore.h"

namespace pcstore {

using fingerprint = pcs_fingerprint;
using metrics = pcs_cache_metrics;

/// A result code and, for errors, the message `pcs_last_error` gave right after the call.
class status {
 public:
  status() = default;
  explicit status(pcs_result code) : code_(code) {
    if (code_ < 0) {
      std::size_t len = pcs_last_error(nullptr, 0);
      message_.resize(len + 1);
      pcs_last_error(&message_[0], message_.size());
      message_.resize(len);
    }
  }

  pcs_result code() const noexcept { return code_; }
  /// True for PCS_OK and PCS_MISS (a miss is not an error).
  bool ok() const noexcept { return code_ >= 0; }
  bool miss() const noexcept { return code_ == PCS_MISS; }
  /// The library's detail message; empty unless this is an error.
  const std::string &message() const noexcept { return message_; }
  /// `pcs_result_str` of the code.
  const char *code_str() const noexcept { return pcs_result_str(code_); }

 private:
  pcs_result code_ = PCS_OK;
  std::string message_;
};

#ifdef PCSTORE_HPP_EXCEPTIONS
/// Thrown by `result::value()` on an error when exceptions are enabled.
class error : public std::runtime_error {
 public:
  explicit error(const status &s)
      : std::runtime_error(std::string(s.code_str()) + ": " + s.message()), code_(s.code()) {}
  pcs_result code() const noexcept { return code_; }

 private:
  pcs_result code_;
};
#endif

/// A T, or the status of the error that prevented it.
template <class T>
class result {
 public:
  result(T value) : value_(std::move(value)), has_value_(true) {}  // NOLINT: implicit by design
  result(status error) : status_(std::move(error)) {}              // NOLINT: implicit by design

  bool ok() const noexcept { return has_value_; }
  explicit operator bool() const noexcept { return has_value_; }
  /// The error; `status()` (PCS_OK) when there is a value.
  const pcstore::status &error() const noexcept { return status_; }

  T &value() & {
    check();
    return value_;
  }
  const T &value() const & {
    check();
    return value_;
  }
  T &&value() && {
    check();
    return std::move(value_);
  }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

 private:
  void check() const {
    if (has_value_) return;
#ifdef PCSTORE_HPP_EXCEPTIONS
    throw pcstore::error(status_);
#else
    std::abort();
#endif
  }

  T value_{};
  pcstore::status status_;
  bool has_value_ = false;
};

/// The plain BLAKE3 hash of `len` bytes (`pcs_fingerprint_of`).
inline fingerprint fingerprint_of(const void *data, std::size_t len) noexcept {
  fingerprint key{};
  pcs_fingerprint_of(data, len, &key);
  return key;
}

/// A read-only, reference-counted view of one stored blob. Empty (`!blob`) after a miss or a
/// move.
class blob {
 public:
  blob() = default;
  /// Adopts one reference (e.g. from pcs_get_blob).
  explicit blob(pcs_blob *adopted) noexcept : handle_(adopted) {}
  blob(const blob &other) noexcept : handle_(other.handle_) { pcs_blob_retain(handle_); }
  blob(blob &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  blob &operator=(blob other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~blob() { pcs_blob_release(handle_); }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  const std::uint8_t *data() const noexcept { return pcs_blob_data(handle_); }
  std::size_t size() const noexcept { return pcs_blob_size(handle_); }
  bool empty() const noexcept { return size() == 0; }
  const std::uint8_t *begin() const noexcept { return data(); }
  const std::uint8_t *end() const noexcept { return data() + size(); }
  pcs_blob *handle() const noexcept { return handle_; }

 private:
  pcs_blob *handle_ = nullptr;
};

/// A thread-safe, reference-counted store handle.
class store {
 public:
  store() = default;
  /// Adopts one reference (e.g. from a pcs_store_open_* function).
  explicit store(pcs_store *adopted) noexcept : handle_(adopted) {}
  store(const store &other) noexcept : handle_(other.handle_) { pcs_store_retain(handle_); }
  store(store &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  store &operator=(store other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~store() { pcs_store_release(handle_); }

  /// An in-memory store; 0 means the library's default budget.
  static result<store> open_memory(std::size_t max_entries = 0, std::uint64_t max_bytes = 0) {
    pcs_memory_options options{};
    options.struct_size = sizeof options;
    options.max_entries = max_entries;
    options.max_bytes = max_bytes;
    pcs_store *handle = nullptr;
    pcs_result code = pcs_store_open_memory(&options, &handle);
    if (code != PCS_OK) return status(code);
    return store(handle);
  }

  /// Layers fastest first; the new store holds its own references to them.
  static result<store> open_layered(const std::vector<store> &layers) {
    std::vector<pcs_store *> handles;
    handles.reserve(layers.size());
    for (const store &layer : layers) handles.push_back(layer.handle_);
    pcs_store *handle = nullptr;
    pcs_result code = pcs_store_open_layered(handles.data(), handles.size(), &handle);
    if (code != PCS_OK) return status(code);
    return store(handle);
  }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  pcs_store *handle() const noexcept { return handle_; }

  /// Stores a copy of the bytes (`pcs_put`).
  status put(const fingerprint &key, const void *data, std::size_t len) const {
    return status(pcs_put(handle_, &key, data, len));
  }

  /// The blob under `key` without copying; an empty blob on a miss (`pcs_get_blob`).
  result<blob> get(const fingerprint &key) const {
    pcs_blob *handle = nullptr;
    pcs_result code = pcs_get_blob(handle_, &key, &handle);
    if (code == PCS_OK) return blob(handle);
    if (code == PCS_MISS) return blob();
    return status(code);
  }

  /// Makes accepted puts durable (`pcs_flush`).
  status flush() const { return status(pcs_flush(handle_)); }

  /// A snapshot of the counters (`pcs_metrics`).
  result<metrics> snapshot() const {
    metrics out{};
    out.struct_size = sizeof out;
    pcs_result code = pcs_metrics(handle_, &out);
    if (code != PCS_OK) return status(code);
    return out;
  }

 private:
  pcs_store *handle_ = nullptr;
};

/// A single-threaded incremental key builder (`pcs_hasher_*`). Move-only.
class hasher {
 public:
  hasher() noexcept { pcs_hasher_new(&handle_); }
  hasher(const hasher &) = delete;
  hasher &operator=(const hasher &) = delete;
  hasher(hasher &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  hasher &operator=(hasher &&other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~hasher() { pcs_hasher_free(handle_); }

  /// Feeds one length-prefixed part.
  hasher &part(const void *data, std::size_t len) noexcept {
    pcs_hasher_part(handle_, data, len);
    return *this;
  }
  /// The key of all parts so far; the hasher stays usable.
  fingerprint finish() const noexcept {
    fingerprint key{};
    pcs_hasher_finish(handle_, &key);
    return key;
  }

 private:
  pcs_hasher *handle_ = nullptr;
};

}  // namespace pcstore

#endif  // PCSTORE_HPP
