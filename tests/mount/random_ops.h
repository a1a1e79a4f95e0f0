// Seeded random operation sequences over a pool of names that mixes what
// the fixture's lower layers provide with new names, reproducible from the
// seed alone (the generator uses its own PRNG, not <random> distributions,
// whose output is implementation-defined).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/mount/ops.h"

namespace strata::mounttest {

class RandomOps {
 public:
  // existing: merged-view paths at the start (relative, no ".").
  RandomOps(uint64_t seed, const std::vector<std::string>& existing);

  Op Next();

 private:
  uint64_t Bits();
  size_t Below(size_t n) { return static_cast<size_t>(Bits() % n); }
  bool Chance(int percent) { return Below(100) < static_cast<size_t>(percent); }
  const std::string& AnyPath() { return pool_[Below(pool_.size())]; }
  const std::string& AnyDir() { return dirs_[Below(dirs_.size())]; }
  off_t AnyOffset();
  size_t AnyLength();
  std::string AnyXattrName();
  int AnyOpenFlags();

  uint64_t state_;
  std::vector<std::string> pool_;
  std::vector<std::string> dirs_;
  uint64_t next_seed_ = 1;
};

}  // namespace strata::mounttest
