// stratafs: mount a stack of layers (DESIGN.md §1).
#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fs/chunked/chunked_file.h"
#include "fs/core/union_fs.h"
#include "fs/layer/layer.h"
#include "fs/log_setup.h"
#include "fs/ops/device_io.h"
#include "fs/ops/fs_context.h"
#include "fs/ops/operations.h"
#include "fs/options/mount_options.h"

namespace {

// One fd per known node (and per layer of a known directory): allow as many as
// the system lets us. Root may raise the hard limit up to fs.nr_open.
void RaiseFdLimit() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = rl.rlim_max;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
    unsigned long long nr_open = 0;
    if (std::fscanf(f, "%llu", &nr_open) == 1 && nr_open > want) want = nr_open;
    std::fclose(f);
  }
  struct rlimit raised = {want, want};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "stratafs: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char* argv[]) {
  std::string error;
  bool exit_now = false;
  auto opts = strata::ParseMountOptions(argc, argv, &error, &exit_now);
  if (exit_now) {
    std::printf("%s\n", error.c_str());
    return 0;
  }
  if (!opts) return Fail(error);

  // New objects get exactly the mode the caller asked for (the kernel has
  // applied the caller's umask already).
  ::umask(0);
  auto stack = strata::layer::LayerStack::Open(opts->lowerdirs, opts->upperdir, opts->workdir, &error);
  if (!stack) return Fail(error);
  if (::geteuid() != 0) stack->set_markers(strata::layer::MarkerNamespace::kUser);
  RaiseFdLimit();

  strata::UnionFsConfig config;
  config.durable = opts->sync_writes;
  config.static_nlink = opts->static_nlink;
  config.noxattrs = opts->noxattrs;
  config.read_only = opts->read_only;
  config.quota_bytes = opts->quota_bytes;
  config.quota_inodes = opts->quota_inodes;
  auto uid_map = strata::IdMap::Parse(opts->uidmapping);
  auto gid_map = strata::IdMap::Parse(opts->gidmapping);
  if (!uid_map || !gid_map) return Fail("invalid uidmapping/gidmapping");
  if (opts->squash_to_root) {
    uid_map->set_squash(0);
    gid_map->set_squash(0);
  }
  if (opts->squash_to_uid >= 0) uid_map->set_squash(static_cast<uint32_t>(opts->squash_to_uid));
  if (opts->squash_to_gid >= 0) gid_map->set_squash(static_cast<uint32_t>(opts->squash_to_gid));
  config.uid_map = *uid_map;
  config.gid_map = *gid_map;
  static_assert(strata::MountOptions{}.chunk_size == strata::chunked::kDefaultChunkSize,
                "the chunk_size option's default is the chunked layer's");
  if (opts->chunked_copyup && !opts->upperdir.empty()) {
    config.chunked_init = [chunk = static_cast<uint32_t>(opts->chunk_size)](
                              int tmp_fd, const struct stat& lower, const std::string& relpath) {
      return strata::chunked::InitChunkedCopy(tmp_fd, lower, strata::chunked::ChunkedOrigin{relpath},
                                              chunk);
    };
  }
  if (!opts->upperdir.empty()) {  // maps of unlinked chunked files, whatever copyup= is
    config.chunked_has_state = [](int dirfd, const char* name) {
      auto chunked = strata::chunked::IsChunkedAt(dirfd, name);
      return !chunked.ok() || *chunked;  // unsure: let the drop look
    };
    config.chunked_drop = strata::chunked::DropChunkedState;
  }
  strata::UnionFs fs(std::move(*stack), config);
  if (fs.quota().enabled()) {
    // Usage is what the upper holds now: it survives remounts by construction.
    strata::Status scanned = fs.quota().Scan(fs.stack().at(0).root.get());
    if (!scanned.ok()) return Fail(std::string("cannot measure the upper for the quota: ") + std::strerror(scanned.error()));
  }

  strata::ops::FsContext ctx;
  ctx.fs = &fs;
  ctx.timeout = opts->timeout;
  ctx.guess_readdir_attrs = !opts->readdir_attrs_all;
  ctx.writeback = opts->writeback;
  ctx.mountpoint = Canonical(opts->mountpoint);
  if (fs.stack().has_upper()) {
    // Chunked files are read correctly whatever copyup= this mount uses.
    std::vector<int> lower_roots;
    for (size_t i = fs.stack().first_lower(); i < fs.stack().size(); ++i)
      lower_roots.push_back(fs.stack().at(i).root.get());
    ctx.chunked_files = std::make_unique<strata::chunked::ChunkedFileTable>(
        std::move(lower_roots), fs.stack().workdir_root_fd(), config.durable);
  }
  for (size_t i = fs.stack().first_lower(); i < fs.stack().size(); ++i)
    ctx.lowerdirs.push_back(fs.stack().at(i).path);
  if (fs.stack().has_upper()) {
    ctx.upperdir = fs.stack().at(0).path;
    ctx.workdir = Canonical(opts->workdir);
  }

  std::string mount_opts = opts->FuseMountOptions();
  std::vector<const char*> fargv = {argv[0], "-o", mount_opts.c_str()};
  if (opts->debug) fargv.push_back("-d");
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fargv.size()), const_cast<char**>(fargv.data()));

  fuse_lowlevel_ops ops = strata::ops::MakeOperations();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &ctx);
  if (!se) return Fail("cannot create the FUSE session (is /dev/fuse available?)");
  // Attribute invalidations only (offset -1): no page cache, no inode lock.
  fs.set_attributes_changed(
      [se](uint64_t nodeid) { fuse_lowlevel_notify_inval_inode(se, nodeid, -1, 0); });
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return Fail("cannot install signal handlers");
  }
  if (fuse_session_mount(se, opts->mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Fail("cannot mount on '" + opts->mountpoint + "'");
  }
  // Passthrough needs CAP_SYS_ADMIN to register backing files; the kernel
  // refuses it with the writeback cache.
  if (opts->passthrough && !opts->writeback && ::geteuid() == 0) {
    ctx.passthrough = std::make_unique<strata::ops::KernelPassthrough>();
    ctx.passthrough->Attach(fuse_session_fd(se));
    auto* pt = ctx.passthrough.get();
    ctx.io_modes = std::make_unique<strata::IoModeTable>(
        [pt](int fd) { return pt->OpenBacking(fd); }, [pt](int id) { pt->CloseBacking(id); });
  }
  // One worker thread can only be on one CPU.
  if (opts->cpu_local && opts->threads != 1)
    ctx.reader = strata::CpuLocalReader::ForThisProcess(fuse_session_fd(se));
  if ((ctx.passthrough || ctx.reader) && !strata::ops::InstallDeviceIo(se)) {
    spdlog::warn("cannot wrap the FUSE device I/O: no passthrough, no CPU-local pickup");
    ctx.io_modes.reset();
    ctx.passthrough.reset();
    ctx.reader.reset();
  }
  // The mount is live: the parent returns only now, so callers can use it at once.
  if (fuse_daemonize(opts->foreground ? 1 : 0) != 0) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return Fail("cannot daemonize");
  }

  strata::SetUpLogging(opts->foreground, opts->debug ? "debug" : opts->log_level, opts->log_file);
  for (const auto& u : opts->unknown) spdlog::warn("ignoring unknown option '{}'", u);
  spdlog::info("mounted {} on {} ({} lower layer(s), {})", opts->source, opts->mountpoint,
               opts->lowerdirs.size(), opts->upperdir.empty() ? "read-only" : "upper " + opts->upperdir);

  int rc;
  if (opts->threads == 1) {
    rc = fuse_session_loop(se);
  } else {
    fuse_loop_config* lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(lc, 1);
    fuse_loop_cfg_set_max_threads(lc, opts->threads ? opts->threads : 16);
    // With CPU-local pickup, keep two idle workers per CPU, so one waits on
    // the caller's CPU while the other is still on its way back from the
    // last reply (one per CPU: ls -lR 1.36 s and untar 1.9 s; two: 1.27 s
    // and 1.4 s; bench/RESULTS.md, 2026-12-04).
    const unsigned idle = opts->threads ? opts->threads
                          : ctx.reader  ? static_cast<unsigned>(2 * ctx.reader->cpu_count())
                                        : 8;
    fuse_loop_cfg_set_idle_threads(lc, idle);
    rc = fuse_session_loop_mt(se, lc);
    fuse_loop_cfg_destroy(lc);
  }
  spdlog::info("unmounting {}", opts->mountpoint);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}
