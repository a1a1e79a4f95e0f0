// strata digest LAYER...: reproducible content digests of layer directories.
#include <fcntl.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "fs/sys/syscalls.h"
#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/layer_digest.h"
#include "tools/progress.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "digest";

constexpr FlagSpec kFlags[] = {
    {"help", false, 'h'},        {"json", false, 'j'},    {"with-times", false, 0},
    {"verify", true, 0},         {"tree", false, 't'},    {"threads", true, 0},
    {"no-progress", false, 0},
};

void PrintHelp() {
  std::printf(
      "usage: strata digest [OPTIONS] LAYER...\n\n"
      "Prints a reproducible XXH3-128 digest of each layer directory: a canonical,\n"
      "sorted walk over names, kinds, modes, owners, sizes, link targets, device\n"
      "numbers, xattrs, hard links and file contents. Whiteouts and opaque markers\n"
      "count in any on-disk form (char 0/0, .wh.NAME, xattrs, .wh..wh..opq) alike.\n"
      "readdir order, timestamps and inode numbers do not count.\n\n"
      "Options:\n"
      "      --with-times      include modification times\n"
      "      --verify DIGEST   exit 1 unless the (single) layer has this digest\n"
      "  -t, --tree            also print one digest per entry\n"
      "      --threads N       file-hashing threads (default: one per CPU, max 8)\n"
      "  -j, --json            JSON output\n"
      "      --no-progress     never draw a progress bar\n"
      "  -h, --help            this text\n");
}

}  // namespace

int RunDigest(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (flags->positional.empty()) return UsageError(kName, "no layer directory given (see --help)");
  std::string verify = flags->get("verify");
  if (flags->has("verify")) {
    if (flags->positional.size() != 1) return UsageError(kName, "--verify takes exactly one layer");
    if (!verify.starts_with(kDigestPrefix)) verify = kDigestPrefix + verify;
    if (verify.size() != std::strlen(kDigestPrefix) + 32)
      return UsageError(kName, "--verify: not an xxh3-128 digest: '" + flags->get("verify") + "'");
  }
  if (flags->has("no-progress")) Progress::SetEnabled(false);
  DigestOptions options;
  options.with_times = flags->has("with-times");
  options.want_tree = flags->has("tree");
  if (flags->has("threads")) {
    auto n = ParseSize(flags->get("threads"));
    if (!n || *n == 0 || *n > 256) return UsageError(kName, "--threads: expected 1..256");
    options.threads = static_cast<unsigned>(*n);
  }
  const bool json = flags->has("json");

  JsonWriter w;
  if (json) w.BeginArray();
  int status = 0;
  for (const auto& layer : flags->positional) {
    int fd = ::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return Failure(kName, "'" + layer + "': " +
                                (errno == ENOTDIR ? std::string("not a directory") : std::strerror(errno)));
    }
    UniqueFd root(fd);
    Progress progress("digest " + layer, 0, true);
    options.on_total = [&](uint64_t total) { progress.SetTotal(total); };
    options.on_bytes = [&](uint64_t n) { progress.Add(n); };
    auto d = DigestLayer(root.get(), options, &error);
    progress.Finish();
    if (!d.ok()) return Failure(kName, layer + ": " + error);
    bool matches = !flags->has("verify") || d->digest == verify;
    if (!matches) status = 1;
    if (json) {
      w.BeginObject().Field("layer", layer).Field("digest", d->digest);
      w.Field("entries", d->entries).Field("files", d->files).Field("bytes", d->bytes);
      w.Field("with_times", options.with_times);
      if (flags->has("verify")) w.Field("expected", verify).Field("verified", matches);
      if (options.want_tree) {
        w.Key("tree").BeginArray();
        for (const auto& e : d->tree) {
          w.BeginObject().Field("path", "/" + e.path).Field("kind", KindName(e.kind));
          if (e.kind != EntryKind::kWhiteout) w.Field("mode", static_cast<uint64_t>(e.mode));
          if (e.kind == EntryKind::kRegular)
            w.Field("size", e.size).Field("content_digest", e.content_digest);
          w.Field("digest", e.digest).EndObject();
        }
        w.EndArray();
      }
      w.EndObject();
      continue;
    }
    std::printf("%s  %s\n", d->digest.c_str(), layer.c_str());
    if (options.want_tree)
      for (const auto& e : d->tree)
        std::printf("  %s  %c %04o %12llu  /%s\n", e.digest.c_str() + std::strlen(kDigestPrefix),
                    KindLetter(e.kind), e.mode, static_cast<unsigned long long>(e.size), e.path.c_str());
    if (flags->has("verify"))
      std::fprintf(matches ? stdout : stderr, "%s: %s\n", layer.c_str(),
                   matches ? "OK" : ("MISMATCH, expected " + verify).c_str());
  }
  if (json) std::printf("%s\n", w.EndArray().str().c_str());
  return status;
}

}  // namespace strata::tools
