// pyedge._core: the thin pybind11 layer. Converts the plan Python built into C++ layers once,
// and makes predict one call: check the input, release the GIL, run, return a float32 array.
// C++ errors become Python errors here (std::invalid_argument -> ValueError).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pyedge/kernel_registry.h"
#include "pyedge/plan.h"

namespace py = pybind11;
using pyedge::Plan;

namespace {

template <typename T>
py::array_t<T, py::array::c_style | py::array::forcecast> array_of(const py::dict& d,
                                                                    const char* key, size_t size) {
  auto a = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(d[key]);
  if (!a || static_cast<size_t>(a.size()) != size)
    throw std::invalid_argument(std::string("layer field '") + key + "' must hold " +
                                std::to_string(size) + " values");
  return a;
}

std::string shape_text(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The int8 matrix product of a FULLY_CONNECTED, CONV_2D or DEPTHWISE_CONV_2D layer: k inputs, n outputs. Keeps
// the arrays alive while a kernel packs them.
struct MatrixProduct {
  using Int8 = py::array_t<int8_t, py::array::c_style | py::array::forcecast>;
  using Int32 = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
  Int8 weights;
  Int32 bias, multiplier, shift;
  pyedge::FullyConnectedParams params;

  MatrixProduct(const py::dict& d, int k, int n)
      : weights(array_of<int8_t>(d, "weights", size_t(n) * k)), bias(array_of<int32_t>(d, "bias", n)),
        multiplier(array_of<int32_t>(d, "multiplier", n)), shift(array_of<int32_t>(d, "shift", n)) {
    for (py::ssize_t i = 0; i < n; ++i)
      if (multiplier.at(i) < 0 || shift.at(i) < -31 || shift.at(i) > 30)
        throw std::invalid_argument("requantization multiplier or shift out of range");
    params.input_depth = k;
    params.output_depth = n;
    params.weights = weights.data();
    params.bias = bias.data();
    params.multiplier = multiplier.data();
    params.shift = shift.data();
    params.input_zero_point = d["input_zero_point"].cast<int32_t>();
    params.output_zero_point = d["output_zero_point"].cast<int32_t>();
    params.activation_min = d["activation_min"].cast<int32_t>();
    params.activation_max = d["activation_max"].cast<int32_t>();
  }
};

pyedge::Window window_of(const py::dict& d) {
  auto get = [&](const char* key) { return d[key].cast<int>(); };
  return {get("in_h"), get("in_w"), get("channels"), get("kernel_h"), get("kernel_w"),
          get("stride_h"), get("stride_w"), get("dilation_h"), get("dilation_w"),
          get("out_h"), get("out_w"), get("pad_top"), get("pad_left")};
}

class NativeModel {
 public:
  NativeModel(const py::dict& spec, int num_threads, const std::string& kernel)
      : kernel_(pyedge::select_kernel(kernel)), int8_input_(spec["int8_input"].cast<bool>()) {
    for (auto d : spec["feature_shape"]) feature_shape_.push_back(d.cast<py::ssize_t>());
    for (auto d : spec["output_shape"]) output_shape_.push_back(d.cast<py::ssize_t>());
    output_rows_per_row_ = spec["output_rows_per_row"].cast<py::ssize_t>();
    batch_multiple_ = spec["batch_multiple"].cast<py::ssize_t>();
    std::vector<std::unique_ptr<pyedge::Layer>> layers;
    for (auto item : spec["layers"]) {
      py::dict d = item.cast<py::dict>();
      const auto kind = d["kind"].cast<std::string>();
      const int k = d["input_depth"].cast<int>(), n = d["output_depth"].cast<int>();
      if (kind == "fully_connected") {
        const MatrixProduct m(d, k, n);
        layers.push_back(pyedge::make_fully_connected_layer(m.params, kernel_.fully_connected.fn,
                                                            d["groups"].cast<int>()));
      } else if (kind == "conv_2d") {
        const MatrixProduct m(d, k, n);
        layers.push_back(pyedge::make_conv_2d_layer(window_of(d), m.params));
      } else if (kind == "depthwise_conv_2d") {
        const MatrixProduct m(d, k, n);
        layers.push_back(pyedge::make_depthwise_conv_2d_layer(window_of(d), m.params));
      } else if (kind == "pool_2d") {
        layers.push_back(pyedge::make_pool_2d_layer(window_of(d), d["average"].cast<bool>(),
                                                    d["activation_min"].cast<int32_t>(),
                                                    d["activation_max"].cast<int32_t>()));
      } else if (kind == "mean") {
        const auto output_of = array_of<int32_t>(d, "output_of", k);
        const pyedge::MeanParams p{k, n, d["count"].cast<int>(), output_of.data(),
                                   d["input_zero_point"].cast<int32_t>(), d["multiplier"].cast<int32_t>(),
                                   d["shift"].cast<int32_t>(), d["output_zero_point"].cast<int32_t>()};
        layers.push_back(pyedge::make_mean_layer(p));
      } else if (kind == "pad") {
        layers.push_back(pyedge::make_pad_layer(array_of<int32_t>(d, "source", n).data(), k, n,
                                                d["fill"].cast<int32_t>()));
      } else if (kind == "lookup_table") {
        layers.push_back(pyedge::make_lookup_table_layer(array_of<int8_t>(d, "table", 256).data(), n));
      } else if (kind == "softmax") {
        pyedge::SoftmaxS8Params p{d["diff_min"].cast<int32_t>()};
        layers.push_back(
            pyedge::make_softmax_layer(array_of<int32_t>(d, "exp_table", 256).data(), p, n,
                                       kernel_.softmax.fn, d["axis_size"].cast<int>()));
      } else {
        throw std::invalid_argument("unknown layer kind '" + kind + "'");
      }
    }
    pyedge::Quantization in{spec["input_scale"].cast<float>(), spec["input_zero_point"].cast<int32_t>()};
    pyedge::Quantization out{spec["output_scale"].cast<float>(), spec["output_zero_point"].cast<int32_t>()};
    pyedge::Standardization standardization;
    if (spec.contains("input_mean")) {  // a trained model's raw-feature statistics
      const int depth = spec["input_depth"].cast<int>();
      const auto mean = array_of<float>(spec, "input_mean", depth);
      const auto std = array_of<float>(spec, "input_std", depth);
      standardization.mean.assign(mean.data(), mean.data() + depth);
      standardization.std.assign(std.data(), std.data() + depth);
    }
    plan_ = std::make_unique<Plan>(spec["input_depth"].cast<int>(), in, out, std::move(layers),
                                   kernel_.quantize.fn, num_threads, std::move(standardization));
  }

  py::array_t<float> predict(const py::handle& x) const {
    py::ssize_t rows;
    bool single;
    py::array a = checked_input(x, &rows, &single);
    // The graph output's shape, as LiteRT returns it: (rows, ...) or, where FULLY_CONNECTED
    // flattened each row into several, (rows * output_rows_per_row, ...).
    std::vector<py::ssize_t> out_shape;
    if (!single || output_rows_per_row_ != 1) out_shape.push_back(rows * output_rows_per_row_);
    out_shape.insert(out_shape.end(), output_shape_.begin(), output_shape_.end());
    py::array_t<float> y(out_shape);
    float* out = y.mutable_data();
    int64_t bad = -1;
    if (int8_input_ && a.dtype().is(py::dtype::of<int8_t>())) {
      auto q = py::array_t<int8_t, py::array::c_style | py::array::forcecast>::ensure(a);
      py::gil_scoped_release release;
      plan_->run(q.data(), rows, out);
    } else {
      auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
      if (!f) throw py::error_already_set();
      py::gil_scoped_release release;
      bad = plan_->run(f.data(), rows, out);
    }
    if (bad >= 0) throw_bad_row(a, bad);
    return y;
  }

  // The int8 input and each layer's int8 output, as a list of (rows, depth) arrays.
  py::list trace(const py::handle& x) const {
    py::ssize_t rows;
    bool single;
    py::array a = checked_input(x, &rows, &single);
    std::vector<int8_t> quantized;
    const int8_t* q;
    py::array_t<int8_t, py::array::c_style | py::array::forcecast> q_in;
    if (int8_input_ && a.dtype().is(py::dtype::of<int8_t>())) {
      q_in = py::array_t<int8_t, py::array::c_style | py::array::forcecast>::ensure(a);
      q = q_in.data();
    } else {
      auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
      const int depth = plan_->input_depth();
      quantized.resize(size_t(rows) * depth);
      for (py::ssize_t r = 0; r < rows; ++r)
        if (plan_->quantize_input(f.data() + r * depth, 1, quantized.data() + r * depth) >= 0)
          throw_bad_row(a, r);
      q = quantized.data();
    }
    py::list result;
    const std::vector<int> depths = plan_->tensor_depths();
    const auto tensors = plan_->trace(q, rows);
    for (size_t i = 0; i < tensors.size(); ++i) {
      py::array_t<int8_t> arr({rows, static_cast<py::ssize_t>(depths[i])});
      std::copy(tensors[i].begin(), tensors[i].end(), arr.mutable_data());
      result.append(arr);
    }
    return result;
  }

  const std::string& kernel() const { return kernel_.name; }
  // The implementation each op runs with (lookup tables, the convolutions, pools and MEAN have one,
  // portable, so far).
  py::dict implementations() const {
    return py::dict(py::arg("fully_connected") = kernel_.fully_connected.name,
                    py::arg("conv_2d") = "scalar", py::arg("depthwise_conv_2d") = "scalar",
                    py::arg("quantize") = kernel_.quantize.name,
                    py::arg("softmax") = kernel_.softmax.name, py::arg("lookup_table") = "scalar",
                    py::arg("pool_2d") = "scalar", py::arg("mean") = "scalar",
                    py::arg("pad") = "scalar");
  }
  int num_threads() const { return plan_->num_threads(); }

 private:
  [[noreturn]] void throw_bad_row(const py::array& input, int64_t row) const {
    if (plan_->standardizes()) {
      auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(input);
      const float* x = f.data() + row * plan_->input_depth();
      if (std::all_of(x, x + plan_->input_depth(), [](float v) { return std::isfinite(v); }))
        throw py::value_error("input row " + std::to_string(row) + " overflows float32 when "
                              "standardized with the model's training statistics ((x - mean) / std)");
    }
    throw py::value_error("input row " + std::to_string(row) + " contains NaN or Inf (after "
                          "conversion to float32); predict() accepts finite values only");
  }

  // Shape and dtype checks shared by predict and trace; the messages match pyedge/_inputs.py.
  py::array checked_input(const py::handle& x, py::ssize_t* rows, bool* single) const {
    py::array a = py::array::ensure(x);
    if (!a) {
      PyErr_Clear();
      throw py::type_error("predict() needs a NumPy array or a nested sequence of numbers");
    }
    const char kind = a.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
      throw py::type_error("predict() needs numbers, got an array of dtype " +
                           py::str(a.dtype()).cast<std::string>());
    const auto nd = static_cast<size_t>(a.ndim());
    std::vector<py::ssize_t> shape(a.shape(), a.shape() + nd);
    const size_t f = feature_shape_.size();
    *single = nd == f && shape == feature_shape_;
    const bool batch = nd == f + 1 && std::equal(feature_shape_.begin(), feature_shape_.end(),
                                                 shape.begin() + 1);
    if (!*single && !batch) {
      std::vector<py::ssize_t> with_rows{-1};
      with_rows.insert(with_rows.end(), feature_shape_.begin(), feature_shape_.end());
      std::string expected = shape_text(with_rows);
      expected.replace(1, 2, "rows");
      throw py::value_error("expected input of shape " + expected + " or " +
                            shape_text(feature_shape_) + ", got " + shape_text(shape));
    }
    *rows = *single ? 1 : shape[0];
    if (*rows % batch_multiple_ != 0)
      throw py::value_error("this model's batch is fixed at " + std::to_string(batch_multiple_) +
                            " rows: predict() takes a multiple of " +
                            std::to_string(batch_multiple_) + " rows, got " +
                            std::to_string(*rows));
    return a;
  }

  pyedge::KernelInfo kernel_;
  bool int8_input_;
  std::vector<py::ssize_t> feature_shape_;
  std::vector<py::ssize_t> output_shape_;  // one row's output, without the batch dimension
  py::ssize_t output_rows_per_row_ = 1;
  py::ssize_t batch_multiple_ = 1;  // a fixed-batch model's batch: calls are multiples of it
  std::unique_ptr<Plan> plan_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyedge's C++ core: int8 plan executor and SIMD kernels";
  py::class_<NativeModel>(m, "NativeModel")
      .def(py::init<const py::dict&, int, const std::string&>(), py::arg("spec"),
           py::arg("num_threads"), py::arg("kernel") = "")
      .def("predict", &NativeModel::predict, py::arg("x"),
           "Float rows (or int8 rows for an int8-input model) -> float32 outputs.")
      .def("trace", &NativeModel::trace, py::arg("x"))
      .def_property_readonly("kernel", &NativeModel::kernel)
      .def_property_readonly("implementations", &NativeModel::implementations)
      .def_property_readonly("num_threads", &NativeModel::num_threads);
  m.def("kernels", [] {
    py::list result;
    for (const auto& k : pyedge::list_kernels())
      result.append(py::dict(py::arg("name") = k.name, py::arg("compiled") = k.compiled,
                             py::arg("supported") = k.supported));
    return result;
  }, "Every kernel pyedge knows, best first: compiled into this build? runnable on this CPU?");
  m.def("select_kernel", [](const std::string& forced) { return pyedge::select_kernel(forced).name; },
        py::arg("forced") = "");
}
