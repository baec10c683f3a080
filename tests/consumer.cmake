# The installed package, used the way a user's project uses it: install this build into a prefix under
# the build tree, configure and build examples/consumer against that prefix (find_package(strata)), and
# run the result. Four tests ordered by fixtures, so `ctest -R consumer.run` runs the steps before it too.
set(STRATA_CONSUMER_PREFIX ${PROJECT_BINARY_DIR}/consumer/prefix)
set(STRATA_CONSUMER_BUILD ${PROJECT_BINARY_DIR}/consumer/build)

# The consumer is built with the same compiler and, when strata is sanitized, the same sanitizer: an
# instrumented libstrata needs an instrumented program (the sanitizer runtime must load first).
set(strata_consumer_flags "")
if(STRATA_SANITIZE STREQUAL "address")
  set(strata_consumer_flags "-fsanitize=address,undefined -fno-omit-frame-pointer")
elseif(STRATA_SANITIZE STREQUAL "thread")
  set(strata_consumer_flags "-fsanitize=thread -fno-omit-frame-pointer")
endif()
if(STRATA_WERROR)
  set(strata_consumer_werror ON)
else()
  set(strata_consumer_werror OFF)
endif()

add_test(NAME consumer.install
         COMMAND ${CMAKE_COMMAND} --install ${PROJECT_BINARY_DIR} --prefix ${STRATA_CONSUMER_PREFIX}
                 --config $<CONFIG>)
add_test(NAME consumer.configure
         COMMAND ${CMAKE_COMMAND} --fresh -S ${PROJECT_SOURCE_DIR}/examples/consumer -B ${STRATA_CONSUMER_BUILD}
                 -G ${CMAKE_GENERATOR} -DCMAKE_BUILD_TYPE=$<CONFIG>
                 -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
                 "-DCMAKE_CXX_FLAGS=${strata_consumer_flags}"
                 -DCMAKE_COMPILE_WARNING_AS_ERROR=${strata_consumer_werror}
                 -DCMAKE_PREFIX_PATH=${STRATA_CONSUMER_PREFIX}
                 -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
add_test(NAME consumer.build COMMAND ${CMAKE_COMMAND} --build ${STRATA_CONSUMER_BUILD} --config $<CONFIG>)
# Through `cmake -E env` so that listing the tests before the consumer is built does not warn.
add_test(NAME consumer.run COMMAND ${CMAKE_COMMAND} -E env ${STRATA_CONSUMER_BUILD}/strata_consumer)

set_tests_properties(consumer.install PROPERTIES FIXTURES_SETUP strata_installed)
set_tests_properties(consumer.configure PROPERTIES FIXTURES_REQUIRED strata_installed
                     FIXTURES_SETUP strata_consumer_configured)
set_tests_properties(consumer.build PROPERTIES FIXTURES_REQUIRED "strata_installed;strata_consumer_configured"
                     FIXTURES_SETUP strata_consumer_built)
set_tests_properties(consumer.run PROPERTIES
                     FIXTURES_REQUIRED "strata_installed;strata_consumer_configured;strata_consumer_built")
set_tests_properties(consumer.install consumer.configure consumer.build consumer.run PROPERTIES
                     LABELS integration TIMEOUT 300)
