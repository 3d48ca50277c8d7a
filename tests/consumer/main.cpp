// Built against an installed Ember: prints a small computation and checks it.
#include <ember/ember.h>

#include <iostream>

int main() {
  using namespace ember;
  array a = reshape(arange(0, 6, 1), {2, 3});
  array b = a * 2 + 1;
  std::cout << b << "\n";
  int total = sum(b).item<int>();  // (1+3+5) + (7+9+11) = 36
  if (total != 36) {
    std::cerr << "expected 36, got " << total << "\n";
    return 1;
  }
  std::cout << "consumer ok\n";
  return 0;
}
