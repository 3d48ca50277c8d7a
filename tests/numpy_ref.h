// NumPy as an independent reference: a test writes its inputs into a Python
// script, NumPy evaluates a list of expressions, and the results come back as
// shapes and float64 values. Tests skip when python3 with numpy is missing
// (scripts/install-deps installs it).
#pragma once

#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_utils.h"

namespace numpy_ref {

struct Result {
  bool ok = false;  // false: NumPy raised
  ember::Shape shape;
  std::vector<double> values;
};

/// A Python expression rebuilding `a` (its logical values, in its dtype) as a NumPy array.
inline std::string literal(const ember::array& a) {
  std::ostringstream os;
  os.precision(17);
  os << "np.array([";
  for (double v : test_utils::values(a)) os << v << ",";
  std::string dt = ember::dtype_name(a.dtype());
  if (dt == "bool") dt = "bool_";
  os << "], dtype=np.float64).astype(np." << dt << ").reshape("
     << "(";
  for (auto d : a.shape()) os << d << ",";
  os << "))";
  return os.str();
}

/// Whether python3 can import numpy (checked once).
inline bool available() {
  static int ok = -1;
  if (ok < 0) ok = std::system("python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return ok == 1;
}

/// Runs `setup` (Python statements; `np` is numpy) and evaluates each expression.
inline std::vector<Result> eval(const std::string& setup, const std::vector<std::string>& exprs) {
  auto dir = std::filesystem::temp_directory_path();
  std::string path = (dir / ("ember_np_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                             std::to_string(reinterpret_cast<uintptr_t>(&exprs)) + ".py"))
                         .string();
  {
    std::ofstream py(path);
    py << "import numpy as np\n" << setup << "\n";
    py << "def _emit(f):\n"
          "    try:\n"
          "        r = np.asarray(f(), dtype=np.float64)\n"
          "    except Exception:\n"
          "        print('ERR'); print(); return\n"
          "    print(' '.join(str(d) for d in r.shape) + ' |')\n"
          "    print(' '.join(repr(float(v)) for v in r.ravel()))\n";
    for (const auto& e : exprs) py << "_emit(lambda: (" << e << "))\n";
  }
  std::vector<Result> out;
  FILE* p = popen(("python3 " + path).c_str(), "r");
  if (!p) return out;
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
  pclose(p);
  std::filesystem::remove(path);
  std::istringstream lines(text);
  std::string shape_line, value_line;
  while (std::getline(lines, shape_line) && std::getline(lines, value_line)) {
    Result r;
    if (shape_line != "ERR") {
      r.ok = true;
      std::istringstream ss(shape_line);
      std::string tok;
      while (ss >> tok && tok != "|") r.shape.push_back(std::stoi(tok));
      std::istringstream vs(value_line);
      std::string v;
      while (vs >> v) r.values.push_back(std::strtod(v.c_str(), nullptr));  // also reads nan and inf
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace numpy_ref
