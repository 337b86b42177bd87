package dockerapi

// The JSON documents the stand-in serves. Field names and omitempty rules
// follow the Engine API as the Docker Go client (v28.5.2, api/types) decodes
// it; the unit tests check the names.

// Event is one message of the /events stream, also what Engine.Events
// returns.
type Event struct {
	// Deprecated mirrors dockerd still fills for container events.
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`

	Type     string
	Action   string
	Actor    Actor
	Scope    string `json:"scope,omitempty"`
	Time     int64  `json:"time,omitempty"`
	TimeNano int64  `json:"timeNano,omitempty"`
}

// Actor is the object an event is about.
type Actor struct {
	ID         string
	Attributes map[string]string
}

type apiError struct {
	Message string `json:"message"`
}

type versionDoc struct {
	Platform      struct{ Name string }
	Components    []componentDoc `json:",omitempty"`
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion,omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	Experimental  bool   `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
}

type componentDoc struct {
	Name    string
	Version string
	Details map[string]string `json:",omitempty"`
}

type infoDoc struct {
	ID                string
	Containers        int
	ContainersRunning int
	ContainersPaused  int
	ContainersStopped int
	Images            int
	Driver            string
	Name              string
	ServerVersion     string
	OperatingSystem   string
	OSType            string
	Architecture      string
	NCPU              int
	MemTotal          int64
	DockerRootDir     string
	Swarm             struct{ LocalNodeState string }
	Warnings          []string
}

type portDoc struct {
	IP          string `json:"IP,omitempty"`
	PrivatePort uint16
	PublicPort  uint16 `json:"PublicPort,omitempty"`
	Type        string
}

type summaryDoc struct {
	ID         string `json:"Id"`
	Names      []string
	Image      string
	ImageID    string
	Command    string
	Created    int64
	Ports      []portDoc
	Labels     map[string]string
	State      string
	Status     string
	HostConfig struct {
		NetworkMode string `json:",omitempty"`
	}
	NetworkSettings *networksDoc
	Mounts          []any
}

type networksDoc struct {
	Networks map[string]*endpointDoc
}

type endpointDoc struct {
	IPAMConfig          any
	Links               []string
	Aliases             []string
	MacAddress          string
	DriverOpts          map[string]string
	GwPriority          int
	NetworkID           string
	EndpointID          string
	Gateway             string
	IPAddress           string
	IPPrefixLen         int
	IPv6Gateway         string
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	DNSNames            []string
}

type healthcheckDoc struct {
	Test          []string `json:",omitempty"`
	Interval      int64    `json:",omitempty"` // nanoseconds
	Timeout       int64    `json:",omitempty"`
	StartPeriod   int64    `json:",omitempty"`
	StartInterval int64    `json:",omitempty"`
	Retries       int      `json:",omitempty"`
}

type healthResultDoc struct {
	Start    string
	End      string
	ExitCode int
	Output   string
}

type healthDoc struct {
	Status        string
	FailingStreak int
	Log           []healthResultDoc
}

type stateDoc struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
	Health     *healthDoc `json:",omitempty"`
}

type restartPolicyDoc struct {
	Name              string
	MaximumRetryCount int
}

type logConfigDoc struct {
	Type   string
	Config map[string]string
}

type hostConfigDoc struct {
	NetworkMode   string
	RestartPolicy restartPolicyDoc
	PortBindings  map[string]any
	AutoRemove    bool
	LogConfig     logConfigDoc
	Binds         []string
}

type configDoc struct {
	Hostname     string
	Domainname   string
	User         string
	AttachStdin  bool
	AttachStdout bool
	AttachStderr bool
	ExposedPorts map[string]struct{} `json:",omitempty"`
	Tty          bool
	OpenStdin    bool
	StdinOnce    bool
	Env          []string
	Cmd          []string
	Healthcheck  *healthcheckDoc `json:",omitempty"`
	Image        string
	Volumes      map[string]struct{}
	WorkingDir   string
	Entrypoint   []string
	OnBuild      []string
	Labels       map[string]string
	StopSignal   string `json:",omitempty"`
}

type graphDriverDoc struct {
	Data map[string]string
	Name string
}

type networkSettingsDoc struct {
	Bridge                 string
	SandboxID              string
	SandboxKey             string
	Ports                  map[string][]portBindingDoc
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []any
	SecondaryIPv6Addresses []any
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*endpointDoc
}

type portBindingDoc struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

type inspectDoc struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           *stateDoc
	Image           string
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	Platform        string
	MountLabel      string
	ProcessLabel    string
	AppArmorProfile string
	ExecIDs         []string
	HostConfig      *hostConfigDoc
	GraphDriver     graphDriverDoc
	Mounts          []any
	Config          *configDoc
	NetworkSettings *networkSettingsDoc
}

type ipamConfigDoc struct {
	Subnet  string
	Gateway string
}

type ipamDoc struct {
	Driver  string
	Options map[string]string
	Config  []ipamConfigDoc
}

type networkEndpointDoc struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

type networkDoc struct {
	Name       string
	ID         string `json:"Id"`
	Created    string
	Scope      string
	Driver     string
	EnableIPv4 bool
	EnableIPv6 bool
	IPAM       ipamDoc
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigFrom struct{ Network string }
	ConfigOnly bool
	Containers map[string]networkEndpointDoc
	Options    map[string]string
	Labels     map[string]string
}
