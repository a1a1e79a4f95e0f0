// Moving one chunk's bytes from the lower file into the upper file, at the
// same offset. Holes in the lower stay holes in the upper.
#pragma once

#include <sys/types.h>

#include "fs/base/result.h"

namespace strata::chunked {

// Makes [begin, end) of the upper read as zeros (punches a hole, or writes
// zeros where the filesystem cannot punch), so that leftovers of an
// interrupted earlier fill can never show through a lower hole.
Status ClearUpperRange(int upper, off_t begin, off_t end);

// Copies the data segments of the lower's [begin, end) into the upper at the
// same offsets: copy_file_range, else pread/pwrite. Bytes past the lower's
// end are left alone (the caller cleared them).
Status CopyLowerRange(int lower, int upper, off_t begin, off_t end);

}  // namespace strata::chunked
