// Printing arrays and shapes.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "ember/array.h"

namespace ember {

/// Prints in MLX's format, e.g. `array([[1, 2], [3, 4]], dtype=int32)`;
/// evaluates the array first. Large arrays are summarized with "...".
std::ostream& operator<<(std::ostream& os, array a);
/// "(2,3)"-style text of a shape.
std::string shape_to_string(const Shape& shape);
std::ostream& operator<<(std::ostream& os, const Shape& shape);

/// Prints the unevaluated graph below `outputs`, one node per line, inputs first.
void print_graph(std::ostream& os, const std::vector<array>& outputs);
/// Writes the unevaluated graph below `outputs` in Graphviz DOT format.
void export_to_dot(std::ostream& os, const std::vector<array>& outputs);

}  // namespace ember
