package config

// Keywords that keepalived knows but xvs does not act on yet, per block.
// They are accepted with a warning; their arguments and any block they open
// are skipped. Anything that is neither acted on nor listed here is
// reported as an unknown keyword, also with a warning, as keepalived does.

// notActedTop are top-level keywords.
var notActedTop = set(
	"vrrp_script", "vrrp_sync_group", "virtual_server_group",
	"static_ipaddress", "static_routes", "static_rules",
	"vrrp_track_process", "vrrp_track_file", "track_file", "garp_group",
	"bfd_instance", "net_namespace",
	"net_namespace_ipvs", "namespace_with_ipsets", "instance",
	"use_pid_dir", "child_wait_time",
)

// notActedGlobal are global_defs keywords.
var notActedGlobal = set(
	"notification_email", "notification_email_from", "smtp_server",
	"smtp_helo_name", "smtp_connect_timeout", "smtp_alert",
	"smtp_alert_vrrp", "smtp_alert_checker", "lvs_id",
	"lvs_sync_daemon", "lvs_flush", "lvs_flush_onstop", "lvs_flush_on_stop",
	"enable_traps", "enable_script_security", "script_user",
	"enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc",
	"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_snmp_keepalived",
	"snmp_socket", "enable_dbus", "enable_dbus_instance",
	"vrrp_mcast_group4", "vrrp_mcast_group6", "vrrp_garp_master_delay",
	"vrrp_garp_master_repeat", "vrrp_garp_lower_prio_delay",
	"vrrp_garp_lower_prio_repeat", "vrrp_garp_master_refresh",
	"vrrp_garp_master_refresh_repeat", "vrrp_garp_interval",
	"vrrp_gna_interval", "vrrp_min_garp", "vrrp_lower_prio_no_advert",
	"vrrp_higher_prio_send_advert", "vrrp_version", "vrrp_iptables",
	"vrrp_ipsets", "vrrp_nftables", "vrrp_check_unicast_src",
	"vrrp_skip_check_adv_addr", "vrrp_strict", "vrrp_priority",
	"checker_priority", "bfd_priority", "vrrp_no_swap", "checker_no_swap",
	"bfd_no_swap", "vrrp_rt_priority", "checker_rt_priority",
	"bfd_rt_priority", "vrrp_cpu_affinity", "checker_cpu_affinity",
	"bfd_cpu_affinity", "vrrp_netlink_cmd_rcv_bufs",
	"vrrp_netlink_monitor_rcv_bufs", "lvs_netlink_cmd_rcv_bufs",
	"lvs_netlink_monitor_rcv_bufs", "process_names", "process_name",
	"vrrp_process_name", "checker_process_name", "bfd_process_name",
	"dynamic_interfaces", "default_interface", "max_auto_priority",
	"min_auto_priority_delay", "notify_fifo", "notify_fifo_script",
	"vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo",
	"lvs_notify_fifo_script", "vrrp_startup_delay", "vrrp_log_unknown_vrids",
	"vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "script_security",
	"linkbeat_use_polling", "random_seed",
	"reload_time_file", "tmp_config_directory",
	"data_use_instance", "umask", "fifo_write_vrrp_states_on_reload",
	"rs_init_notifies", "no_checker_emails",
	"nftables", "nftables_priority", "nftables_ifindex",
	"nftables_counters", "checker_log_all_failures", "vrrp_notify_priority_changes",
)

// notActedVS are virtual_server keywords.
var notActedVS = set(
	"persistence_engine", "ha_suspend", "alpha",
	"omega", "quorum", "quorum_up", "quorum_down", "hysteresis",
	"sorry_server", "sorry_server_inhibit", "sorry_server_lvs_method",
	"virtualhost", "ops", "one_packet_scheduler", "retry",
	"delay_before_retry", "warmup", "connect_timeout", "inhibit_on_failure",
	"smtp_alert", "ip_family", "nb_get_retry",
)

// notActedRS are real_server keywords.
var notActedRS = set(
	"TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK",
	"MISC_CHECK", "BFD_CHECK", "PING_CHECK", "UDP_CHECK", "FILE_CHECK",
	"inhibit_on_failure", "notify_up", "notify_down", "smtp_alert", "alpha", "retry", "delay_before_retry",
	"warmup", "delay_loop", "connect_timeout", "virtualhost",
	"lvs_method", "nb_get_retry",
)

// notActedVRRP are vrrp_instance keywords.
var notActedVRRP = set(
	"advert_int", "authentication", "nopreempt", "preempt", "preempt_delay",
	"track_interface", "track_script", "track_process", "track_file",
	"track_bfd", "track_src_ip", "virtual_ipaddress_excluded",
	"virtual_routes", "virtual_rules", "unicast_src_ip", "unicast_peer",
	"unicast_ttl", "unicast_fault_no_peer", "mcast_src_ip", "notify_master",
	"notify_backup", "notify_fault", "notify_stop", "notify_deleted",
	"notify", "notify_master_rx_lower_pri", "smtp_alert", "garp_master_delay",
	"garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat",
	"garp_lower_prio_delay", "garp_lower_prio_repeat", "garp_interval",
	"gna_interval", "garp_extra_if", "lower_prio_no_advert",
	"higher_prio_send_advert", "lvs_sync_daemon_interface",
	"dont_track_primary", "use_vmac", "vmac_xmit_base", "use_ipvlan",
	"native_ipv6", "strict_mode", "version", "accept", "no_accept", "debug",
	"skip_check_adv_addr", "check_unicast_src", "kernel_rx_buf_size",
	"old_unicast_checksum", "promote_secondaries", "linkbeat_use_polling",
	"down_timer_adverts", "vrrp_notify_priority_changes", "no_track",
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
	"global_defs":       "at the top level",
	"virtual_server":    "at the top level",
	"vrrp_instance":     "at the top level",
	"xvs":               "at the top level",
	"real_server":       "inside a virtual_server block",
	"virtual_ipaddress": "inside a vrrp_instance block",
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}
