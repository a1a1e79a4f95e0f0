// CompactName: a file name in 16 bytes, where std::string takes 32.
//
// Every cached inode keeps its name (bench/RESULTS.md, memory). Names up to
// 15 bytes, nearly all of them, live inline; longer ones on the heap.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace strata {

class CompactName {
 public:
  CompactName() { SetInline({}); }
  explicit CompactName(std::string_view s) { Set(s); }
  CompactName(const CompactName& o) { Set(o.view()); }
  CompactName& operator=(const CompactName& o) {
    if (this != &o) Assign(o.view());
    return *this;
  }
  ~CompactName() { FreeHeap(); }

  void Assign(std::string_view s) {
    FreeHeap();
    Set(s);
  }
  std::string_view view() const {
    if (on_heap()) return {heap_.ptr, heap_.len};
    return {bytes_, static_cast<size_t>(bytes_[kInline])};
  }
  std::string str() const { return std::string(view()); }

 private:
  static constexpr size_t kInline = 15;
  // The last byte: the length of an inline name, or kHeapTag.
  static constexpr char kHeapTag = static_cast<char>(0x80);

  bool on_heap() const { return bytes_[kInline] == kHeapTag; }
  void Set(std::string_view s) {
    if (s.size() <= kInline) return SetInline(s);
    heap_.ptr = new char[s.size()];
    std::memcpy(heap_.ptr, s.data(), s.size());
    heap_.len = static_cast<uint32_t>(s.size());
    bytes_[kInline] = kHeapTag;
  }
  void SetInline(std::string_view s) {
    if (!s.empty()) std::memcpy(bytes_, s.data(), s.size());  // data() may be null
    bytes_[kInline] = static_cast<char>(s.size());
  }
  void FreeHeap() {
    if (on_heap()) delete[] heap_.ptr;
  }

  struct Heap {
    char* ptr;
    uint32_t len;
  };
  union {
    char bytes_[kInline + 1];
    Heap heap_;  // its padding overlaps the tag byte, which Set writes last
  };
};
static_assert(sizeof(CompactName) == 16);

}  // namespace strata
