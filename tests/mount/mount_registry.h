// Every mount a test makes is recorded here so that the watchdog can tear it
// down when a test hangs (a stuck FUSE request blocks the test thread, so
// RAII destructors would never run).
#pragma once

#include <string>
#include <vector>

namespace strata::mounttest {

void RegisterMount(const std::string& mountpoint);
void UnregisterMount(const std::string& mountpoint);
std::vector<std::string> RegisteredMounts();

// True when mountpoint is listed in /proc/self/mountinfo.
bool IsMounted(const std::string& mountpoint);

// If the mount is a FUSE mount and fusectl is available, aborts its
// connection so that blocked requests fail instead of hanging.
void AbortFuseConnection(const std::string& mountpoint);

}  // namespace strata::mounttest
