enable subgroups;
@group(0) @binding(2) var<storage, read_write> v21: array<f32>;
@group(0) @binding(1) var<storage, read> v13: array<f32>;
@group(0) @binding(0) var<storage, read> v5: array<f32>;
struct info_st { scalars_usize: array<u32, 6>, scalars_u32: array<u32, 8>, static_meta: array<u32, 4> }
@group(0) @binding(3) var<storage, read> info_var: info_st;
@compute @workgroup_size(4, 4, 1)
fn matmul_entry_lhs_f32_lhs_size_1_rhs_f32_rhs_size_1_acc_f32_acc_size_1_8b4705d7(@builtin(workgroup_id) v153: vec3<u32>, @builtin(local_invocation_id) v155: vec3<u32>) {
let v162 = &v21;
let v163 = &v13;
let v164 = &v5;
let v2 = info_var.scalars_u32[1];
let v3 = info_var.scalars_usize[0];
let v4 = info_var.scalars_usize[1];
let v7 = u32(0);
let v11 = info_var.scalars_usize[2];
let v12 = info_var.scalars_usize[3];
let v19 = info_var.scalars_usize[4];
let v20 = info_var.scalars_usize[5];
let v25 = info_var.scalars_u32[6];
let v26 = info_var.scalars_u32[7];
let v154 = v153[0];
let v35 = u32(v154);
let v36 = v25 * v26;
let v37 = u32(v36);
let v38 = v35 / v37;
let v39 = v35 % v37;
let v40 = u32(v26);
let v41 = v39 / v40;
let v42 = u32(v41);
let v43 = u32(v39);
let v44 = v43 % v26;
let v45 = u32(v38);
let v46 = u32(v45);
let v47 = u32(v46);
var<function> v145_store: u32;
let v145 = &v145_store;
*v145 = v47;
var<function> v146_store: u32;
let v146 = &v146_store;
*v146 = v7;
var<function> v147_store: u32;
let v147 = &v147_store;
*v147 = v47;
var<function> v148_store: u32;
let v148 = &v148_store;
*v148 = v7;
var<function> v149_store: u32;
let v149 = &v149_store;
*v149 = v47;
var<function> v150_store: u32;
let v150 = &v150_store;
*v150 = v7;
let v66 = u32(4);
let v67 = v44 * v66;
let v156 = v155[1];
let v69 = v67 + v156;
let v158 = v155[0];
let v73 = v2 / v66;
let v74 = f32(0.0);
var<function> v151_store: f32;
let v151 = &v151_store;
*v151 = v74;
let v76 = u32(0);
let v77 = u32(1);
for(var v78: u32 = v76; v78 < v73; v78 += v77) {
let v80 = v78 + v156;
let v81 = v80 % v73;
let v83 = v81 * v66;
let v84 = v83 + v158;
let v89 = u32(v42);
let v90 = v89 * v3;
let v91 = *v146;
let v92 = v91 + v90;
let v93 = u32(v84);
let v94 = v93 * v4;
let v95 = v92 + v94;
let v101 = &(*v164)[v95];
let v102 = *v101;
let v106 = v93 * v11;
let v107 = *v148;
let v108 = v107 + v106;
let v109 = u32(v69);
let v110 = v109 * v12;
let v111 = v108 + v110;
let v117 = &(*v163)[v111];
let v118 = *v117;
let v120 = *v151;
let v161 = fma(v102, v118, v120);
*v151 = v161;

}
let v122 = *v151;
let v123 = subgroupAdd(v122);
let v125 = v158 == v76;
if v125 {
let v128 = u32(v42);
let v129 = v128 * v19;
let v130 = *v150;
let v131 = v130 + v129;
let v132 = u32(v69);
let v133 = v132 * v20;
let v134 = v131 + v133;
let v140 = &(*v162)[v134];
*v140 = v123;

}
return;

}
