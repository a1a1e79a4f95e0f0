#include "bench/layer_fixture.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <fstream>

namespace strata::bench {

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "layer fixture: %s\n", what.c_str());
  std::abort();
}

const char* const kLayerNames[] = {"upper", "l1", "l2", "l3"};

}  // namespace

LayerFixture::LayerFixture() {
  char tmpl[] = "/tmp/strata-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) Fail("mkdtemp failed");
  root_ = tmpl;
  for (const char* name : kLayerNames) std::filesystem::create_directory(root_ / name);
  std::filesystem::create_directory(root_ / "work");
}

LayerFixture::~LayerFixture() {
  stack_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

std::filesystem::path LayerFixture::layer_path(int i) const { return root_ / kLayerNames[i]; }

void LayerFixture::WriteFile(int layer, const std::string& relpath, const std::string& content) {
  std::ofstream out(layer_path(layer) / relpath, std::ios::binary);
  out << content;
  if (!out) Fail("cannot write " + relpath);
}

void LayerFixture::MakeDir(int layer, const std::string& relpath) {
  std::filesystem::create_directories(layer_path(layer) / relpath);
}

void LayerFixture::MakeWhiteout(int layer, const std::string& relpath) {
  auto path = layer_path(layer) / relpath;
  if (::mknod(path.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0) return;
  auto file = path.parent_path() / (".wh." + path.filename().string());
  WriteFile(layer, std::filesystem::relative(file, layer_path(layer)).string(), "");
}

const layer::LayerStack& LayerFixture::Open() {
  std::string error;
  stack_ = layer::LayerStack::Open({layer_path(1), layer_path(2), layer_path(3)}, layer_path(0),
                                   root_ / "work", &error);
  if (!stack_) Fail("cannot open the stack: " + error);
  return *stack_;
}

std::vector<layer::DirInstance> LayerFixture::ResolveDir(const std::string& name) {
  std::vector<layer::DirInstance> roots;
  for (size_t i = 0; i < stack().size(); ++i) {
    auto inst = layer::OpenDirInstance(static_cast<int>(i), stack().at(i).root.get(), ".");
    if (!inst.ok()) Fail("cannot open a layer root");
    roots.push_back(std::move(*inst));
  }
  auto r = layer::Resolve(stack(), roots, name);
  if (!r.ok() || !r->has_value() || (*r)->dirs.empty()) Fail("cannot resolve directory " + name);
  return std::move((*r)->dirs);
}

}  // namespace strata::bench
