// RFC 4180 CSV, written once so every table that leaves as CSV is read back the same way by a
// spreadsheet, pandas or Python's csv module: fields separated by commas, records ended by CRLF,
// a field quoted when it holds a comma, a double quote, CR or LF (a quote inside doubled).
#pragma once

#include <string>
#include <vector>

namespace sdpa {

// One field, quoted only when it must be.
std::string csv_field(const std::string& text);
// One record: the fields joined by commas, then CRLF.
std::string csv_record(const std::vector<std::string>& fields);
// A number as a cell: the shortest text that reads back as the same double (no rounding, no
// units, no thousands separators); "" for NaN and infinity, which CSV readers do not agree on.
std::string csv_number(double value);

}  // namespace sdpa
