#include "harness/exit_code.h"

#include <exception>
#include <iostream>
#include <stdexcept>

namespace sdpa {

int exit_code_of(const std::function<int()>& command, std::ostream& err) {
  try {
    return command();
  } catch (const std::invalid_argument& e) {  // SpecError and the parsers' own: bad input
    err << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {  // a runtime failure (a backend, the machine): not the input
    err << "error: " << e.what() << "\n";
    return 1;
  }
}

int exit_code_of(const std::function<int()>& command) { return exit_code_of(command, std::cerr); }

}  // namespace sdpa
