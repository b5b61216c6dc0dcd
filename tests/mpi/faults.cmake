# The fault matrix (docs/fault-matrix.md): at np 2 and 4, each --inject-fault kind on the last worker, just
# after loading and at step 2, plus a throw on the driver; each case must end the job within 10 s of the fault,
# non-zero, naming the rank and the cause, with the report written incomplete where the driver survives.
# Included from CMakeLists.txt here, which sets ${bin}, ${models} and ${work}.
set(fault_matrix ${CMAKE_CURRENT_SOURCE_DIR}/fault_matrix.sh)
foreach(np 2 4)
  math(EXPR last "${np} - 1")
  foreach(kind throw exit sigkill hang)
    foreach(at load step:2)
      string(REPLACE ":" "" at_name ${at})
      add_test(NAME fault.np${np}.${kind}.${at_name}
               COMMAND ${fault_matrix} ${bin} ${models} ${work}/fault-np${np}-${kind}-${at_name} ${np} ${kind} ${at} ${last})
      set_tests_properties(fault.np${np}.${kind}.${at_name} PROPERTIES TIMEOUT 60 PROCESSORS ${np})
    endforeach()
  endforeach()
  add_test(NAME fault.np${np}.throw.step2.rank0
           COMMAND ${fault_matrix} ${bin} ${models} ${work}/fault-np${np}-throw-step2-rank0 ${np} throw step:2 0)
  set_tests_properties(fault.np${np}.throw.step2.rank0 PROPERTIES TIMEOUT 60 PROCESSORS ${np})
endforeach()
