#!/usr/bin/perl
# Writes ward-test-city.mmdb: a tiny MaxMind DB in the GeoIP2/GeoLite2-City layout (country.iso_code,
# subdivisions[0].names.en) for the addresses that Wazuh's *_geoip.ini tests and Ward's own tests
# use. It is test data, not geolocation data: the entries are what those tests need of a City
# database (country codes and region names), not a copy of any vendor's database.
# Regenerate: /usr/bin/perl make-fixture.pl ward-test-city.mmdb  (Debian libmaxmind-db-writer-perl)
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUTPUT.mmdb\n";
my %types = (
    country      => 'map',
    subdivisions => [ 'array', 'map' ],
    names        => 'map',
    iso_code     => 'utf8_string',
    en           => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version              => 6,
    record_size             => 24,
    database_type           => 'Ward-Test-City',
    languages               => ['en'],
    description             => { en => 'Ward loginspect GeoIP test fixture' },
    remove_reserved_networks => 0,
    map_key_type_callback   => sub { $types{ $_[0] } },
);
sub place {
    my ($cc, $region) = @_;
    my %r = (country => { iso_code => $cc });
    $r{subdivisions} = [ { names => { en => $region } } ] if defined $region;
    return \%r;
}
# network                  country  region (subdivisions[0].names.en)
my @entries = (
    [ '8.8.8.0/24',        'US', undef ],
    [ '41.78.120.0/24',    'CF', 'Haut-Mbomou' ],
    [ '194.69.224.0/24',   'NL', 'North Holland' ],
    [ '200.16.16.0/24',    'AR', 'Buenos Aires F.D.' ],
    [ '2.136.147.0/24',    'ES', 'Madrid' ],
    [ '2.136.14.0/24',     'ES', 'Andalusia' ],
    [ '94.80.188.0/24',    'IT', 'Lombardy' ],
    [ '203.0.113.0/24',    'JP', 'Tokyo' ],
    [ '2001:db8:1::/48',   'JP', 'Osaka' ],
);
$tree->insert_network($_->[0], place($_->[1], $_->[2])) for @entries;
open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh or die "$out: $!\n";
