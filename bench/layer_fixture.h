// A throwaway layer stack on disk for the in-process benchmarks: an upper,
// three lowers (l1 on top) and a work directory under a fresh /tmp directory,
// removed again when the fixture goes away.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fs/layer/layer.h"
#include "fs/layer/resolver.h"

namespace strata::bench {

class LayerFixture {
 public:
  LayerFixture();
  ~LayerFixture();
  LayerFixture(const LayerFixture&) = delete;
  LayerFixture& operator=(const LayerFixture&) = delete;

  // Path of layer `i` in LayerStack order: 0 is the upper, 1..3 the lowers.
  std::filesystem::path layer_path(int i) const;

  void WriteFile(int layer, const std::string& relpath, const std::string& content = "x");
  void MakeDir(int layer, const std::string& relpath);
  // A kernel whiteout (char device 0/0), or a `.wh.NAME` file when mknod is
  // not allowed (not root): the resolver treats both alike.
  void MakeWhiteout(int layer, const std::string& relpath);

  // Opens the stack once everything is written; aborts the program on error.
  const layer::LayerStack& Open();
  const layer::LayerStack& stack() const { return stack_.value(); }

  // The merged directory `name` (one component below the root), as
  // Resolve returns it: its instances top first.
  std::vector<layer::DirInstance> ResolveDir(const std::string& name);

 private:
  std::filesystem::path root_;
  std::optional<layer::LayerStack> stack_;
};

}  // namespace strata::bench
