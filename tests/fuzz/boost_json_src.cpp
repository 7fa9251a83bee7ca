// Boost.JSON's sources (header-only mode), compiled once for the fuzz targets with their instrumentation.
#include <boost/json/src.hpp>
