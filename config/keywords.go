package config

// Keywords that keepalived 2.2 knows but xvs does not act on yet, per block.
// They are accepted with a warning (once per keyword); their arguments and
// any block they open are skipped. Anything that is neither acted on nor
// listed here is reported as an unknown keyword, also with a warning, as
// keepalived does.

// notActedTop are top-level keywords.
var notActedTop = set(
	"static_ipaddress", "static_routes", "static_rules", "track_group",
	"vrrp_track_process", "vrrp_track_file", "track_file", "garp_group",
	"bfd_instance", "net_namespace", "linkbeat_interfaces",
	"interface_up_down_delays", "SSL",
	"net_namespace_ipvs", "namespace_with_ipsets", "instance",
	"use_pid_dir", "child_wait_time", "linkbeat_use_polling",
)

// notActedGlobal are global_defs keywords.
var notActedGlobal = set(
	"lvs_id",
	"lvs_flush", "lvs_flush_onstop", "lvs_flush_on_stop",
	"enable_traps", "startup_script", "startup_script_timeout",
	"shutdown_script", "shutdown_script_timeout",
	"disable_local_igmp",
	"enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc",
	"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_snmp_keepalived",
	"snmp_socket", "enable_dbus", "enable_dbus_instance", "dbus_service_name",
	"vrrp_mcast_group6", "vrrp_garp_interval", "vrrp_garp_extra_if",
	"vrrp_vmac_garp_intvl", "vrrp_gna_interval", "vrrp_min_garp",
	"vrrp_higher_prio_send_advert", "vrrp_iptables",
	"vrrp_ipsets", "vrrp_nftables", "vrrp_check_unicast_src",
	"vrrp_strict", "vrrp_priority",
	"checker_priority", "bfd_priority", "vrrp_no_swap", "checker_no_swap",
	"bfd_no_swap", "vrrp_rt_priority", "checker_rt_priority",
	"bfd_rt_priority", "vrrp_cpu_affinity", "checker_cpu_affinity",
	"bfd_cpu_affinity", "vrrp_rlimit_rttime", "vrrp_rlimit_rtime",
	"checker_rlimit_rttime", "checker_rlimit_rtime", "bfd_rlimit_rttime",
	"bfd_rlimit_rtime", "vrrp_netlink_cmd_rcv_bufs",
	"vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
	"vrrp_netlink_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs",
	"lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
	"lvs_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs",
	"process_monitor_rcv_bufs_force", "process_names", "process_name",
	"vrrp_process_name", "checker_process_name", "lvs_process_name",
	"bfd_process_name",
	"dynamic_interfaces", "default_interface", "max_auto_priority",
	"min_auto_priority_delay", "notify_fifo", "notify_fifo_script",
	"vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo",
	"lvs_notify_fifo_script", "vrrp_startup_delay", "vrrp_log_unknown_vrids",
	"log_unknown_vrids", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier",
	"script_security", "vmac_prefix", "vmac_addr_prefix",
	"linkbeat_use_polling", "random_seed", "reload_check_config",
	"reload_repeat", "reload_file", "include_check",
	"reload_time_file", "tmp_config_directory",
	"data_use_instance", "umask", "fifo_write_vrrp_states_on_reload",
	"rs_init_notifies",
	"nftables", "nftables_priority", "nftables_ifindex",
	"nftables_counters", "nftables_ipvs", "nftables_ipvs_priority",
	"nftables_ipvs_start_fwmark", "checker_log_all_failures",
	"vrrp_notify_priority_changes",
)

// notActedVS are virtual_server keywords.
var notActedVS = set(
	"persistence_engine", "sorry_server_lvs_method", "ops",
	"one_packet_scheduler", "hashed", "ip_family", "weight",
	"snmp_name",
)

// notActedRS are real_server keywords.
var notActedRS = set(
	"BFD_CHECK", "FILE_CHECK", "lvs_method",
	"snmp_name",
)

// notActedChecker are keywords of the checker blocks (TCP_CHECK,
// HTTP_GET, …).
var notActedChecker = set("bind_if", "fwmark", "fast_recovery")

// notActedURL are keywords of an HTTP_GET or SSL_GET url block.
var notActedURL = set(
	"regex", "regex_no_match", "regex_options", "regex_min_offset",
	"regex_max_offset", "regex_stack",
)

// notActedVRRP are vrrp_instance keywords.
var notActedVRRP = set(
	"track_process", "track_file",
	"track_bfd", "track_src_ip", "virtual_ipaddress_excluded",
	"virtual_routes", "virtual_rules",
	"unicast_ttl", "unicast_fault_no_peer", "notify_deleted",
	"notify_master_rx_lower_pri", "garp_interval",
	"gna_interval", "garp_extra_if", "vmac_garp_intvl",
	"higher_prio_send_advert",
	"dont_track_primary", "use_vmac_addr",
	"use_ipvlan", "native_ipv6", "strict_mode", "accept", "no_accept",
	"debug", "check_unicast_src", "kernel_rx_buf_size",
	"old_unicast_checksum", "promote_secondaries", "linkbeat_use_polling",
	"down_timer_adverts", "notify_priority_changes",
	"vrrp_notify_priority_changes", "no_track",
)

// notActedScript are vrrp_script keywords.
var notActedScript = set("init_fail")

// notActedSync are vrrp_sync_group keywords.
var notActedSync = set(
	"track_interface", "track_file", "track_process", "track_bfd",
	"global_tracking", "sync_group_tracking_weight",
	"notify_priority_changes",
)

// vipOptions are the options of a virtual_ipaddress line other than dev
// and label, with whether each takes a value. They are accepted but not
// acted on.
var vipOptions = map[string]bool{
	"brd": true, "broadcast": true, "scope": true, "peer": true,
	"preferred_lft": true, "track_group": true,
	"home": false, "-nodad": false, "nodad": false, "noprefixroute": false,
	"autojoin": false, "no_track": false,
}

// schedulers are the IPVS schedulers lb_algo accepts.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// placement says where the block keywords xvs acts on belong, so that one
// in the wrong block is an error rather than an unknown keyword.
var placement = map[string]string{
	"global_defs":          "at the top level",
	"virtual_server":       "at the top level",
	"virtual_server_group": "at the top level",
	"vrrp_instance":        "at the top level",
	"vrrp_script":          "at the top level",
	"vrrp_sync_group":      "at the top level",
	"xvs":                  "at the top level",
	"real_server":          "inside a virtual_server block",
	"virtual_ipaddress":    "inside a vrrp_instance block",
	"authentication":       "inside a vrrp_instance block",
	"TCP_CHECK":            "inside a real_server block",
	"HTTP_GET":             "inside a real_server block",
	"SSL_GET":              "inside a real_server block",
	"MISC_CHECK":           "inside a real_server block",
	"UDP_CHECK":            "inside a real_server block",
	"PING_CHECK":           "inside a real_server block",
	"DNS_CHECK":            "inside a real_server block",
	"SMTP_CHECK":           "inside a real_server block",
	"url":                  "inside an HTTP_GET or SSL_GET block",
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}
