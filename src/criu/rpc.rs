//! The messages of CRIU's RPC protocol (`images/rpc.proto` in CRIU's sources, proto2) that
//! hull sends and reads: the request, its options, the response and what it carries. Field
//! numbers are CRIU's; fields hull never sets are left out (protobuf skips unknown fields on
//! both sides), so this is a subset, not a copy, of the protocol.
//!
//! The encoding is prost's, derived from these declarations: no .proto file and no protoc at
//! build time.

/// criu_req_type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReqType {
    Empty = 0,
    Dump = 1,
    Restore = 2,
    Check = 3,
    PreDump = 4,
    PageServer = 5,
    Notify = 6,
    CpuinfoDump = 7,
    CpuinfoCheck = 8,
    FeatureCheck = 9,
    Version = 10,
    WaitPid = 11,
    PageServerChld = 12,
}

/// criu_cg_mode: how CRIU treats the cgroups of the tasks it dumps and restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CgMode {
    Ignore = 0,
    CgNone = 1,
    Props = 2,
    Soft = 3,
    Full = 4,
    Strict = 5,
    Default = 6,
}

/// criu_network_lock_method: how CRIU cuts the container's network off while it dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NetworkLock {
    Iptables = 1,
    Nftables = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtMountMap {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, required, tag = "2")]
    pub val: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct JoinNamespace {
    #[prost(string, required, tag = "1")]
    pub ns: String,
    #[prost(string, required, tag = "2")]
    pub ns_file: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InheritFd {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(int32, required, tag = "2")]
    pub fd: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CgroupRoot {
    #[prost(string, optional, tag = "1")]
    pub ctrl: Option<String>,
    #[prost(string, required, tag = "2")]
    pub path: String,
}

/// criu_opts (the fields hull uses).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Opts {
    /// A directory fd of the requesting process: CRIU opens it through /proc/PID/fd.
    #[prost(int32, required, tag = "1")]
    pub images_dir_fd: i32,
    #[prost(int32, optional, tag = "2")]
    pub pid: Option<i32>,
    #[prost(bool, optional, tag = "3")]
    pub leave_running: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    pub ext_unix_sk: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    pub tcp_established: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub evasive_devices: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub shell_job: Option<bool>,
    #[prost(bool, optional, tag = "8")]
    pub file_locks: Option<bool>,
    #[prost(int32, optional, tag = "9")]
    pub log_level: Option<i32>,
    #[prost(string, optional, tag = "10")]
    pub log_file: Option<String>,
    #[prost(bool, optional, tag = "12")]
    pub notify_scripts: Option<bool>,
    #[prost(string, optional, tag = "13")]
    pub root: Option<String>,
    #[prost(string, optional, tag = "14")]
    pub parent_img: Option<String>,
    #[prost(bool, optional, tag = "15")]
    pub track_mem: Option<bool>,
    #[prost(bool, optional, tag = "16")]
    pub auto_dedup: Option<bool>,
    #[prost(int32, optional, tag = "17")]
    pub work_dir_fd: Option<i32>,
    #[prost(message, repeated, tag = "23")]
    pub ext_mnt: Vec<ExtMountMap>,
    #[prost(bool, optional, tag = "24")]
    pub manage_cgroups: Option<bool>,
    #[prost(message, repeated, tag = "25")]
    pub cg_root: Vec<CgroupRoot>,
    #[prost(bool, optional, tag = "26")]
    pub rst_sibling: Option<bool>,
    #[prost(message, repeated, tag = "27")]
    pub inherit_fd: Vec<InheritFd>,
    #[prost(enumeration = "CgMode", optional, tag = "34")]
    pub manage_cgroups_mode: Option<i32>,
    #[prost(string, repeated, tag = "37")]
    pub external: Vec<String>,
    #[prost(uint32, optional, tag = "38")]
    pub empty_ns: Option<u32>,
    #[prost(message, repeated, tag = "39")]
    pub join_ns: Vec<JoinNamespace>,
    #[prost(string, optional, tag = "44")]
    pub freeze_cgroup: Option<String>,
    #[prost(bool, optional, tag = "50")]
    pub orphan_pts_master: Option<bool>,
    #[prost(string, optional, tag = "51")]
    pub config_file: Option<String>,
    #[prost(enumeration = "NetworkLock", optional, tag = "64")]
    pub network_lock: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Features {
    #[prost(bool, optional, tag = "1")]
    pub mem_track: Option<bool>,
    #[prost(bool, optional, tag = "2")]
    pub lazy_pages: Option<bool>,
}

/// criu_req.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Req {
    #[prost(enumeration = "ReqType", required, tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub opts: Option<Opts>,
    #[prost(bool, optional, tag = "3")]
    pub notify_success: Option<bool>,
    #[prost(message, optional, tag = "5")]
    pub features: Option<Features>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RestoreResp {
    #[prost(int32, required, tag = "1")]
    pub pid: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Notify {
    #[prost(string, optional, tag = "1")]
    pub script: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub pid: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Version {
    #[prost(int32, required, tag = "1")]
    pub major_number: i32,
    #[prost(int32, required, tag = "2")]
    pub minor_number: i32,
    #[prost(string, optional, tag = "3")]
    pub gitid: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub sublevel: Option<i32>,
}

/// criu_resp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resp {
    #[prost(enumeration = "ReqType", required, tag = "1")]
    pub r#type: i32,
    #[prost(bool, required, tag = "2")]
    pub success: bool,
    #[prost(message, optional, tag = "4")]
    pub restore: Option<RestoreResp>,
    #[prost(message, optional, tag = "5")]
    pub notify: Option<Notify>,
    #[prost(int32, optional, tag = "7")]
    pub cr_errno: Option<i32>,
    #[prost(message, optional, tag = "8")]
    pub features: Option<Features>,
    #[prost(string, optional, tag = "9")]
    pub cr_errmsg: Option<String>,
    #[prost(message, optional, tag = "10")]
    pub version: Option<Version>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Bytes as protoc encodes them for CRIU (checked by hand against the wire format:
    /// key = field << 3 | wire type).
    #[test]
    fn request_encoding() {
        let req = Req {
            r#type: ReqType::Dump as i32,
            opts: Some(Opts {
                images_dir_fd: 5,
                pid: Some(300),
                leave_running: Some(true),
                log_file: Some("dump.log".into()),
                ext_mnt: vec![ExtMountMap {
                    key: "/a".into(),
                    val: "/a".into(),
                }],
                manage_cgroups_mode: Some(CgMode::Soft as i32),
                empty_ns: Some(0x4000_0000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = req.encode_to_vec();
        let opts: Vec<u8> = [
            &[0x08, 5][..],                              // 1: images_dir_fd = 5
            &[0x10, 0xac, 0x02],                         // 2: pid = 300 (varint)
            &[0x18, 1],                                  // 3: leave_running
            &[0x52, 8],                                  // 10: log_file, 8 bytes
            b"dump.log",                                 //
            &[0xba, 0x01, 8],                            // 23: ext_mnt, 8 bytes
            &[0x0a, 2, b'/', b'a'],                      //   key
            &[0x12, 2, b'/', b'a'],                      //   val
            &[0x90, 0x02, 3],                            // 34: manage_cgroups_mode = SOFT
            &[0xb0, 0x02, 0x80, 0x80, 0x80, 0x80, 0x04], // 38: empty_ns = CLONE_NEWNET
        ]
        .concat();
        let mut want = vec![0x08, 1, 0x12, opts.len() as u8];
        want.extend(opts);
        assert_eq!(bytes, want);
    }

    #[test]
    fn response_decoding() {
        // A notify carrying script "post-restore" and pid 42, as CRIU sends it, with a field
        // hull does not declare (6: ps, an empty message) that must be skipped.
        let mut notify = vec![0x0a, 12];
        notify.extend(b"post-restore");
        notify.extend([0x10, 42]);
        let mut bytes = vec![0x08, 6, 0x10, 1, 0x2a, notify.len() as u8];
        bytes.extend(notify);
        bytes.extend([0x32, 0]);
        let resp = Resp::decode(bytes.as_slice()).unwrap();
        assert_eq!(resp.r#type, ReqType::Notify as i32);
        assert!(resp.success);
        let n = resp.notify.unwrap();
        assert_eq!(n.script.as_deref(), Some("post-restore"));
        assert_eq!(n.pid, Some(42));
        // prost does not enforce `required`: a response without `success` reads as a failure.
        assert!(!Resp::decode(&[0x08, 1][..]).unwrap().success);
    }
}
