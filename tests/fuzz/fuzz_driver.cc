// Deterministic stand-in for libFuzzer, for builds without clang: replays the
// kept corpus through LLVMFuzzerTestOneInput, then feeds seeded mutations of it
// (bit flips, byte sets, inserts, erases, splices) until the time is up.
//   fuzz_TARGET_driver CORPUS_DIR SECONDS   (or a single input file to replay)
// Also handy to replay a crash-* file found by the libFuzzer binary under gdb.
#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: %s CORPUS_DIR|INPUT [SECONDS]\n", argv[0]);
    return 2;
  }
  struct stat st;
  if (::stat(argv[1], &st) == 0 && S_ISREG(st.st_mode)) {
    Run(Slurp(argv[1]));
    return 0;
  }
  std::vector<std::string> corpus;
  if (DIR* d = ::opendir(argv[1])) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') corpus.push_back(Slurp(std::string(argv[1]) + "/" + e->d_name));
    ::closedir(d);
  }
  if (corpus.empty()) corpus.emplace_back();
  for (const auto& c : corpus) Run(c);
  const double seconds = argc > 2 ? std::atof(argv[2]) : 10;
  std::mt19937_64 rng(12345);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t execs = corpus.size();
  while (std::chrono::steady_clock::now() < end) {
    std::string in = corpus[rng() % corpus.size()];
    const int edits = 1 + rng() % 8;
    for (int k = 0; k < edits; ++k) {
      const size_t pos = in.empty() ? 0 : rng() % in.size();
      switch (rng() % 5) {
        case 0: if (!in.empty()) in[pos] ^= static_cast<char>(1u << (rng() % 8)); break;
        case 1: if (!in.empty()) in[pos] = static_cast<char>(rng()); break;
        case 2: in.insert(in.begin() + pos, static_cast<char>(rng() % 4 ? rng() % 16 : rng())); break;
        case 3: if (!in.empty()) in.erase(pos, 1 + rng() % 4); break;
        case 4: { const std::string& o = corpus[rng() % corpus.size()]; if (!o.empty()) in.insert(pos, o.substr(rng() % o.size(), 1 + rng() % 16)); break; }
      }
    }
    Run(in);
    ++execs;
  }
  std::printf("stat::number_of_executed_units: %llu (deterministic driver, seed 12345)\n",
              static_cast<unsigned long long>(execs));
  return 0;
}
