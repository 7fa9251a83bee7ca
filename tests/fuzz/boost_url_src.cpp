// Boost.URL's sources (header-only mode), compiled once for the fuzz targets with their instrumentation.
#include <boost/url/src.hpp>
