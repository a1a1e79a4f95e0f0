#include "fs/chunked/chunk_map.h"

#include <endian.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>

#include "fs/sys/syscalls.h"

namespace strata::chunked {

namespace {

constexpr char kMagic[16] = {'s', 't', 'r', 'a', 't', 'a', '-', 'c', 'h', 'u', 'n', 'k', 'm', 'a', 'p', '\0'};
// Byte offsets of the header fields (FORMAT.md has the same table).
constexpr size_t kOffVersion = 16, kOffChunkSize = 20, kOffLowerSize = 24, kOffLowerIno = 32,
                 kOffMtimeSec = 40, kOffMtimeNsec = 48, kOffChunkCount = 56,
                 kOffLowerChunks = 64, kOffId = 72, kIdLen = 32, kOffPathLen = 104,
                 kOffPath = 108;
constexpr size_t kMaxRelpath = kHeaderSize - kOffPath;

void Put32(char* p, uint32_t v) { v = htole32(v); std::memcpy(p, &v, 4); }
void Put64(char* p, uint64_t v) { v = htole64(v); std::memcpy(p, &v, 8); }
uint32_t Get32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return le32toh(v); }
uint64_t Get64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return le64toh(v); }

Status PreadAll(int fd, void* buf, size_t size, off_t off) {
  char* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) return Errno(EIO);  // truncated map file
    p += n; size -= static_cast<size_t>(n); off += n;
  }
  return Status::Ok();
}

bool IsHexId(const std::string& id) {
  if (id.size() != kIdLen) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string MapFileName(const std::string& id) { return id + ".map"; }

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

std::string EncodeXattr(const std::string& id) { return "v1 " + id; }

Result<std::string> DecodeXattr(const std::string& value) {
  if (value.size() != 3 + kIdLen || value.compare(0, 3, "v1 ") != 0) return Errno(EIO);
  std::string id = value.substr(3);
  if (!IsHexId(id)) return Errno(EIO);
  return id;
}

Result<UniqueFd> OpenStateDir(int workdir_fd, bool create, bool durable) {
  auto dir = sys::OpenAt(workdir_fd, kStateDirName, O_RDONLY | O_DIRECTORY);
  if (dir.ok() || dir.error() != ENOENT || !create) return dir;
  if (::mkdirat(workdir_fd, kStateDirName, 0700) < 0 && errno != EEXIST) return Errno::Last();
  // The new entry must survive a crash before any map inside it can.
  if (durable && ::fsync(workdir_fd) < 0) return Errno::Last();
  return sys::OpenAt(workdir_fd, kStateDirName, O_RDONLY | O_DIRECTORY);
}

Result<ChunkMapFile> ChunkMapFile::Create(int state_dir, const MapHeader& h, bool durable) {
  if (!IsHexId(h.id) || h.lower_relpath.size() > kMaxRelpath) return Errno(ENAMETOOLONG);
  const std::string name = MapFileName(h.id);
  auto fd = sys::OpenAt(state_dir, name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (!fd.ok()) return Errno(fd.error());

  std::vector<char> head(kHeaderSize, 0);
  std::memcpy(head.data(), kMagic, sizeof kMagic);
  Put32(&head[kOffVersion], kFormatVersion);
  Put32(&head[kOffChunkSize], h.chunk_size);
  Put64(&head[kOffLowerSize], h.lower_size);
  Put64(&head[kOffLowerIno], h.lower_ino);
  Put64(&head[kOffMtimeSec], static_cast<uint64_t>(h.lower_mtime_sec));
  Put64(&head[kOffMtimeNsec], static_cast<uint64_t>(h.lower_mtime_nsec));
  Put64(&head[kOffChunkCount], h.chunk_count);
  Put64(&head[kOffLowerChunks], h.lower_chunks);
  std::memcpy(&head[kOffId], h.id.data(), kIdLen);
  Put32(&head[kOffPathLen], static_cast<uint32_t>(h.lower_relpath.size()));
  std::memcpy(&head[kOffPath], h.lower_relpath.data(), h.lower_relpath.size());

  Status st = sys::PwriteAll(fd->get(), head.data(), head.size(), 0);
  // The presence bytes start as a hole: zero means "missing".
  if (st.ok() && ::ftruncate(fd->get(), static_cast<off_t>(kHeaderSize + h.chunk_count)) < 0)
    st = Errno::Last();
  if (st.ok() && durable && (::fsync(fd->get()) < 0 || ::fsync(state_dir) < 0)) st = Errno::Last();
  if (!st.ok()) {
    ::unlinkat(state_dir, name.c_str(), 0);
    return Errno(st.error());
  }
  return ChunkMapFile(std::move(*fd), h);
}

Result<ChunkMapFile> ChunkMapFile::Open(int state_dir, const std::string& id,
                                        std::vector<uint8_t>* present) {
  if (!IsHexId(id)) return Errno(EIO);
  auto fd = sys::OpenAt(state_dir, MapFileName(id).c_str(), O_RDWR);
  if (!fd.ok()) return Errno(fd.error() == ENOENT ? EIO : fd.error());
  std::vector<char> head(kHeaderSize);
  STRATA_RETURN_IF_ERROR(PreadAll(fd->get(), head.data(), head.size(), 0));
  if (std::memcmp(head.data(), kMagic, sizeof kMagic) != 0) return Errno(EIO);
  if (Get32(&head[kOffVersion]) != kFormatVersion) return Errno(EIO);
  MapHeader h;
  h.id.assign(&head[kOffId], kIdLen);
  if (h.id != id) return Errno(EIO);
  h.chunk_size = Get32(&head[kOffChunkSize]);
  h.lower_size = Get64(&head[kOffLowerSize]);
  h.lower_ino = Get64(&head[kOffLowerIno]);
  h.lower_mtime_sec = static_cast<int64_t>(Get64(&head[kOffMtimeSec]));
  h.lower_mtime_nsec = static_cast<int64_t>(Get64(&head[kOffMtimeNsec]));
  h.chunk_count = Get64(&head[kOffChunkCount]);
  h.lower_chunks = Get64(&head[kOffLowerChunks]);
  uint32_t path_len = Get32(&head[kOffPathLen]);
  if (h.chunk_size == 0 || path_len > kMaxRelpath || h.lower_chunks > h.chunk_count ||
      h.chunk_count != (h.lower_size + h.chunk_size - 1) / h.chunk_size)
    return Errno(EIO);
  h.lower_relpath.assign(&head[kOffPath], path_len);

  present->assign(h.chunk_count, 0);
  if (h.chunk_count > 0)
    STRATA_RETURN_IF_ERROR(PreadAll(fd->get(), present->data(), present->size(), kHeaderSize));
  return ChunkMapFile(std::move(*fd), std::move(h));
}

Status ChunkMapFile::MarkPresent(uint64_t index) {
  const uint8_t one = 1;
  return sys::PwriteAll(fd_.get(), &one, 1, static_cast<off_t>(kHeaderSize + index));
}

Status ChunkMapFile::SetLowerChunks(uint64_t lower_chunks) {
  // An aligned 8-byte write inside one sector: old or new value, never a mix.
  char buf[8];
  Put64(buf, lower_chunks);
  STRATA_RETURN_IF_ERROR(sys::PwriteAll(fd_.get(), buf, sizeof buf, kOffLowerChunks));
  header_.lower_chunks = lower_chunks;
  return Status::Ok();
}

Status ChunkMapFile::Sync() {
  if (::fdatasync(fd_.get()) < 0) return Errno::Last();
  return Status::Ok();
}

}  // namespace strata::chunked
