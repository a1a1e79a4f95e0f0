// Placeholder entry point; replaced by the real daemon.
#include <cstdio>
int main() {
  std::fprintf(stderr, "stratafs: not built yet\n");
  return 1;
}
