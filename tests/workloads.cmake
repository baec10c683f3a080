# The workload examples (examples/*.cpp) and `strata demo`, each run as a CTest test: every one checks its
# results against a single-process reference and exits non-zero on a mismatch. Only when the examples
# are built (examples/ is added before tests/, so the targets exist by now).
if(NOT STRATA_BUILD_EXAMPLES OR NOT TARGET allreduce)
  return()
endif()

# strata_add_workload_test(<test name> <target> [args...])
function(strata_add_workload_test name target)
  add_test(NAME workload.${name} COMMAND $<TARGET_FILE:${target}> ${ARGN})
  set_tests_properties(workload.${name} PROPERTIES LABELS integration TIMEOUT 120)
endfunction()

foreach(chips 2 3 8 16)
  strata_add_workload_test(allreduce.${chips} allreduce ${chips})
endforeach()
strata_add_workload_test(domain_rank_map domain_rank_map)
strata_add_workload_test(dual_domain_overlap dual_domain_overlap)
foreach(chips 2 3 4)
  strata_add_workload_test(ffn_tp.${chips} ffn_tp ${chips})
  strata_add_workload_test(ep_dispatch_combine.${chips} ep_dispatch_combine ${chips})
endforeach()
foreach(chips 2 4)
  strata_add_workload_test(bringup.${chips} bringup ${chips})
endforeach()
foreach(chips 1 2 3)
  strata_add_workload_test(dp_train.${chips} dp_train ${chips})
endforeach()

# `strata demo` (the FFN workload on 4 chips, smaller than its default) and the matmul demo it keeps.
strata_add_workload_test(demo.ffn strata_tool demo --tokens 32 --d-model 128 --d-ff 512)
strata_add_workload_test(demo.matmul strata_tool demo --workload matmul --size 128 --tiles 2)
strata_add_workload_test(demo.moe strata_tool demo --workload moe --chips 3)
strata_add_workload_test(demo.dp strata_tool demo --workload dp --chips 2)
strata_add_workload_test(demo.moe_help strata_tool demo --workload=moe --help)
set_tests_properties(workload.demo.moe_help PROPERTIES PASS_REGULAR_EXPRESSION "--chips")

# Every collective benchmark on small buffers, at a rank count that does not divide evenly where the
# collective allows it: each checks its first call against a reference and exits 1 on a wrong result
# (the JSON says "correct": true).
foreach(kind allreduce reducescatter allgather broadcast alltoall)
  set(size 12308)  # 3077 f32: not a multiple of 3
  if(kind STREQUAL alltoall)
    set(size 12288)  # one equal chunk per rank
  endif()
  foreach(chips 1 3)
    strata_add_workload_test(bench.${kind}.${chips} strata_tool bench ${kind} --dtype f32 --chips ${chips}
                             --bytes ${size} --reps 2 --inner 3)
    set_tests_properties(workload.bench.${kind}.${chips} PROPERTIES PASS_REGULAR_EXPRESSION "\"correct\": *true")
  endforeach()
endforeach()
strata_add_workload_test(bench.allreduce_bf16_avg strata_tool bench allreduce --dtype bf16 --op avg --chips 2
                         --bytes 65536 --reps 2 --inner 3)
set_tests_properties(workload.bench.allreduce_bf16_avg PROPERTIES PASS_REGULAR_EXPRESSION "\"correct\": *true")

# `--trace FILE` on the demo and on an example, read back by `strata trace summary` and drawn by
# `strata trace svg` (the picture parsed by Python's XML parser when there is one).
set(trace_dir ${CMAKE_CURRENT_BINARY_DIR}/workload_traces)
file(MAKE_DIRECTORY ${trace_dir})
strata_add_workload_test(demo.trace strata_tool demo --tokens 32 --d-model 128 --d-ff 512 --trace
                         ${trace_dir}/demo.json)
strata_add_workload_test(ffn_tp.trace ffn_tp 2 --trace ${trace_dir}/ffn_tp.json)
set_tests_properties(workload.demo.trace workload.ffn_tp.trace PROPERTIES FIXTURES_SETUP workload_traces)
add_test(NAME workload.trace_summary COMMAND strata_tool trace summary ${trace_dir}/ffn_tp.json)
set_tests_properties(workload.trace_summary PROPERTIES LABELS integration TIMEOUT 60 FIXTURES_REQUIRED workload_traces
                     PASS_REGULAR_EXPRESSION "critical path of run")
add_test(NAME workload.trace_svg COMMAND strata_tool trace svg ${trace_dir}/demo.json -o ${trace_dir}/demo.svg)
set_tests_properties(workload.trace_svg PROPERTIES LABELS integration TIMEOUT 60 FIXTURES_REQUIRED workload_traces
                     FIXTURES_SETUP workload_svg)
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME workload.trace_svg_is_xml
           COMMAND ${Python3_EXECUTABLE} -c
                   "import sys, xml.etree.ElementTree as ET; g = [e for e in ET.parse(sys.argv[1]).iter('{http://www.w3.org/2000/svg}g') if e.get('class') == 'lane']; sys.exit(0 if len(g) == 5 else 1)"
                   ${trace_dir}/demo.svg)
  set_tests_properties(workload.trace_svg_is_xml PROPERTIES LABELS integration TIMEOUT 60 FIXTURES_REQUIRED
                       workload_svg)
endif()
