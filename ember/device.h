// Devices and streams. An array is not tied to a device: each op runs on a
// stream, and a stream is an ordered queue on one device.
#pragma once

#include <ostream>

namespace ember {

/// A compute device: the CPU, or a GPU (CUDA).
struct Device {
  enum class DeviceType { cpu, gpu };
  static constexpr DeviceType cpu = DeviceType::cpu;
  static constexpr DeviceType gpu = DeviceType::gpu;

  DeviceType type;
  int index;

  constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

std::ostream& operator<<(std::ostream& os, const Device& d);

/// The device ops use when no stream or device is given: the GPU when one is
/// present, else the CPU; EMBER_DEFAULT_DEVICE=cpu|gpu overrides it.
const Device& default_device();
void set_default_device(const Device& d);
/// Whether this build and machine can run ops on `d`.
bool is_available(const Device& d);

/// An ordered queue of work on one device. CPU streams run on their own worker thread.
struct Stream {
  int index;
  Device device;
  Stream(int i, Device d) : index(i), device(d) {}
  bool operator==(const Stream& o) const { return index == o.index; }
  bool operator!=(const Stream& o) const { return index != o.index; }
};

std::ostream& operator<<(std::ostream& os, const Stream& s);

/// The default stream of `d` (created on first use).
Stream default_stream(Device d);
void set_default_stream(Stream s);
/// A new stream on `d`.
Stream new_stream(Device d);
/// Blocks until all work submitted to `s` has finished.
void synchronize(Stream s);
/// Blocks until all work on the default stream of the default device has finished.
void synchronize();

/// Where an op runs: a stream, a device (its default stream), or the default.
struct StreamOrDevice {
  enum class Kind { none, stream, device } kind = Kind::none;
  Stream s{0, Device::cpu};
  Device d{Device::cpu};
  StreamOrDevice() = default;
  StreamOrDevice(Stream st) : kind(Kind::stream), s(st) {}
  StreamOrDevice(Device dev) : kind(Kind::device), d(dev) {}
  StreamOrDevice(Device::DeviceType t) : kind(Kind::device), d(t) {}
};

/// Resolves a StreamOrDevice to the stream the op runs on.
Stream to_stream(StreamOrDevice s);

}  // namespace ember
