#include "fs/chunked/chunk_map.h"

#include <endian.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "fs/chunked/chunked_file.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked {

namespace {

constexpr char kMagic[16] = {'s', 't', 'r', 'a', 't', 'a', '-', 'c',
                             'h', 'u', 'n', 'k', 'm', 'a', 'p', '\0'};
// Byte offsets of the header fields (FORMAT.md has the same table).
constexpr size_t kOffVersion = 16, kOffChunkCount = 24, kOffLowerChunks = 32, kOffId = 40,
                 kIdLen = 32, kOffBoot = 72, kBootLen = 36;

std::string ReadBootId() {
  auto fd = sys::OpenAt(AT_FDCWD, "/proc/sys/kernel/random/boot_id", O_RDONLY);
  if (!fd.ok()) return {};
  char buf[kBootLen + 1] = {};
  ssize_t n = ::read(fd->get(), buf, kBootLen);
  return n == static_cast<ssize_t>(kBootLen) ? std::string(buf, kBootLen) : std::string();
}

std::string& BootIdOverride() {
  static std::string id;
  return id;
}

void Put32(char* p, uint32_t v) {
  v = htole32(v);
  std::memcpy(p, &v, 4);
}
void Put64(char* p, uint64_t v) {
  v = htole64(v);
  std::memcpy(p, &v, 8);
}
uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return le32toh(v);
}
uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return le64toh(v);
}

// Reads up to `size` bytes; fewer only at end of file.
Result<size_t> PreadUpTo(int fd, void* buf, size_t size, off_t off) {
  char* p = static_cast<char*>(buf);
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, p + got, size - got, off + static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

bool IsHexId(std::string_view id) {
  if (id.size() != kIdLen) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::vector<char> MakeHeader(const std::string& id, uint64_t chunk_count, uint64_t lower_chunks) {
  std::vector<char> head(kHeaderSize, 0);
  std::memcpy(head.data(), kMagic, sizeof kMagic);
  Put32(&head[kOffVersion], kFormatVersion);
  Put64(&head[kOffChunkCount], chunk_count);
  Put64(&head[kOffLowerChunks], lower_chunks);
  std::memcpy(&head[kOffId], id.data(), kIdLen);
  const std::string& boot = CurrentBootId();
  std::memcpy(&head[kOffBoot], boot.data(), std::min(boot.size(), kBootLen));
  return head;
}

// Next space-separated token of `s` from `*pos`, parsed as an integer.
template <typename T>
bool NextNumber(std::string_view s, size_t* pos, T* out) {
  size_t end = s.find(' ', *pos);
  if (end == std::string_view::npos) return false;
  auto [ptr, ec] = std::from_chars(s.data() + *pos, s.data() + end, *out);
  if (ec != std::errc() || ptr != s.data() + end) return false;
  *pos = end + 1;
  return true;
}

}  // namespace

std::string ChunkedXattr::Encode() const {
  return "v1 " + id + " " + std::to_string(chunk_size) + " " + std::to_string(lower_size) + " " +
         std::to_string(lower_ino) + " " + std::to_string(lower_mtime_sec) + " " +
         std::to_string(lower_mtime_nsec) + " " + lower_relpath;
}

Result<ChunkedXattr> ChunkedXattr::Decode(const std::string& value) {
  std::string_view s = value;
  ChunkedXattr x;
  if (s.substr(0, 3) != "v1 " || s.size() < 3 + kIdLen + 1 || s[3 + kIdLen] != ' ')
    return Errno(EIO);
  x.id = std::string(s.substr(3, kIdLen));
  size_t pos = 3 + kIdLen + 1;
  if (!IsHexId(x.id) || !NextNumber(s, &pos, &x.chunk_size) ||
      !NextNumber(s, &pos, &x.lower_size) || !NextNumber(s, &pos, &x.lower_ino) ||
      !NextNumber(s, &pos, &x.lower_mtime_sec) || !NextNumber(s, &pos, &x.lower_mtime_nsec) ||
      pos >= s.size())
    return Errno(EIO);
  x.lower_relpath = std::string(s.substr(pos));
  // Only what InitChunkedCopy can have written: a damaged or forged value is
  // refused here, before its numbers size anything (a chunk size of 1 or a
  // size near 2^64 made chunk_count() huge or wrap around) or its path (NUL
  // inside, absolute) names another file.
  if (!ValidChunkSize(x.chunk_size) || x.lower_size > static_cast<uint64_t>(INT64_MAX) ||
      x.lower_mtime_nsec < 0 || x.lower_mtime_nsec >= 1000000000 || x.lower_relpath.front() == '/' ||
      x.lower_relpath.find('\0') != std::string::npos)
    return Errno(EIO);
  return x;
}

std::string MapFileName(const std::string& id) { return id + ".map"; }

const std::string& CurrentBootId() {
  static const std::string real = ReadBootId();
  return BootIdOverride().empty() ? real : BootIdOverride();
}

void SetBootIdForTesting(const std::string& boot_id) { BootIdOverride() = boot_id; }

Result<std::string> NewChunkedId() {
  unsigned char raw[16];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = ::getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : raw) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 15]);
  }
  return id;
}

Result<UniqueFd> OpenStateDir(int workdir_fd, bool create, bool durable) {
  auto dir = sys::OpenAt(workdir_fd, kStateDirName, O_RDONLY | O_DIRECTORY);
  if (dir.ok() || dir.error() != ENOENT || !create) return dir;
  if (::mkdirat(workdir_fd, kStateDirName, 0700) < 0 && errno != EEXIST) return Errno::Last();
  // Maps inside are synced with their own entries; this entry once, here.
  if (durable && ::fsync(workdir_fd) < 0) return Errno::Last();
  return sys::OpenAt(workdir_fd, kStateDirName, O_RDONLY | O_DIRECTORY);
}

Result<ChunkMapFile> ChunkMapFile::Create(int state_dir, const std::string& id,
                                          uint64_t chunk_count, uint64_t lower_chunks) {
  if (!IsHexId(id)) return Errno(EINVAL);
  const std::string name = MapFileName(id);
  auto fd = sys::OpenAt(state_dir, name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (!fd.ok()) return Errno(fd.error());
  std::vector<char> head = MakeHeader(id, chunk_count, lower_chunks);
  Status st = sys::PwriteAll(fd->get(), head.data(), head.size(), 0);
  // The presence bytes start as a hole: zero means "missing".
  if (st.ok() && ::ftruncate(fd->get(), static_cast<off_t>(kHeaderSize + chunk_count)) < 0)
    st = Errno::Last();
  if (!st.ok()) {
    ::unlinkat(state_dir, name.c_str(), 0);
    return Errno(st.error());
  }
  return ChunkMapFile(std::move(*fd));
}

Result<std::optional<ChunkMapFile>> ChunkMapFile::Open(int state_dir, const std::string& id,
                                                       uint64_t chunk_count,
                                                       std::vector<uint8_t>* present,
                                                       uint64_t* lower_chunks) {
  present->assign(chunk_count, 0);
  *lower_chunks = chunk_count;
  if (!IsHexId(id)) return Errno(EIO);
  auto fd = sys::OpenAt(state_dir, MapFileName(id).c_str(), O_RDWR);
  if (!fd.ok()) {
    if (fd.error() == ENOENT) return std::optional<ChunkMapFile>();
    return Errno(fd.error());
  }
  std::vector<char> head(kHeaderSize, 0);
  auto got = PreadUpTo(fd->get(), head.data(), head.size(), 0);
  if (!got.ok()) return Errno(got.error());
  // A blank header: created, then the machine went down before it reached
  // the disk. Durable bytes that did are still right (each was written after
  // its data was durable); pending ones are dropped below.
  const bool blank =
      std::all_of(head.begin(), head.begin() + sizeof kMagic, [](char c) { return c == 0; });
  uint32_t version = kFormatVersion;
  if (!blank) {
    version = Get32(&head[kOffVersion]);
    if (std::memcmp(head.data(), kMagic, sizeof kMagic) != 0 || version < 1 ||
        version > kFormatVersion || Get64(&head[kOffChunkCount]) != chunk_count ||
        std::memcmp(&head[kOffId], id.data(), kIdLen) != 0 ||
        Get64(&head[kOffLowerChunks]) > chunk_count)
      return Errno(EIO);
    *lower_chunks = Get64(&head[kOffLowerChunks]);
  }
  if (chunk_count > 0) {
    auto n = PreadUpTo(fd->get(), present->data(), present->size(), kHeaderSize);
    if (!n.ok()) return Errno(n.error());
    // A short map (crash before its ftruncate reached the disk): the rest is
    // missing, as the zeros already say.
  }
  if (std::any_of(present->begin(), present->end(), [](uint8_t b) { return b > kChunkPending; }))
    return Errno(EIO);

  const std::string& boot = CurrentBootId();
  const bool same_boot = !blank && version >= 2 && !boot.empty() &&
                         std::memcmp(&head[kOffBoot], boot.data(), kBootLen) == 0;
  if (!same_boot) {
    // Pending chunks of another boot may never have reached the disk: they
    // are missing again, durably, before the header names this boot (after
    // which new pending bytes are trusted).
    // The whole byte array in one pwrite: a map may hold a million chunks.
    if (std::find(present->begin(), present->end(), kChunkPending) != present->end()) {
      std::replace(present->begin(), present->end(), kChunkPending, kChunkMissing);
      STRATA_RETURN_IF_ERROR(
          sys::PwriteAll(fd->get(), present->data(), present->size(), kHeaderSize));
      if (::fdatasync(fd->get()) < 0) return Errno::Last();
    }
    std::vector<char> fresh = MakeHeader(id, chunk_count, *lower_chunks);
    STRATA_RETURN_IF_ERROR(sys::PwriteAll(fd->get(), fresh.data(), fresh.size(), 0));
  }
  return std::optional<ChunkMapFile>(ChunkMapFile(std::move(*fd)));
}

Status ChunkMapFile::MarkRun(uint64_t first, uint64_t count, uint8_t state) {
  if (count == 0) return Status::Ok();
  if (count == 1)
    return sys::PwriteAll(fd_.get(), &state, 1, static_cast<off_t>(kHeaderSize + first));
  std::vector<uint8_t> bytes(count, state);
  return sys::PwriteAll(fd_.get(), bytes.data(), bytes.size(),
                        static_cast<off_t>(kHeaderSize + first));
}

Status ChunkMapFile::SetLowerChunks(uint64_t lower_chunks) {
  // An aligned 8-byte write inside one sector: old or new value, never a mix.
  char buf[8];
  Put64(buf, lower_chunks);
  return sys::PwriteAll(fd_.get(), buf, sizeof buf, kOffLowerChunks);
}

Status ChunkMapFile::Sync(int state_dir) {
  if (::fdatasync(fd_.get()) < 0) return Errno::Last();
  if (!entry_durable_) {
    if (::fsync(state_dir) < 0) return Errno::Last();
    entry_durable_ = true;
  }
  return Status::Ok();
}

}  // namespace strata::chunked
