import AggregationKit

GatewayCommand.main(profile: .partner)
