// The compiled bodies of Boost.Asio (with its SSL part) and Beast for the listener
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION, set on
// ps_sidecar_server): compiled once here instead of in every unit that includes them.
#include <utility>  // GCC 12 + C++20: before Asio's headers

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
