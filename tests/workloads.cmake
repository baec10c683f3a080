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

# `strata demo` (the FFN workload on 4 chips, smaller than its default) and the matmul demo it keeps.
strata_add_workload_test(demo.ffn strata_tool demo --tokens 32 --d-model 128 --d-ff 512)
strata_add_workload_test(demo.matmul strata_tool demo --workload matmul --size 128 --tiles 2)
